"""Render the package-data templates (``perflab/scaffold/templates/*.tmpl``, ``string.Template`` syntax)."""

from __future__ import annotations

from importlib import resources
from string import Template


def template(name: str, **values: object) -> str:
    """The template ``name`` with every ``$placeholder`` filled; a missing value is a bug (KeyError)."""
    text = resources.files("perflab.scaffold").joinpath("templates", name).read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()})


def static(name: str) -> str:
    """A template with no placeholders (Python sources whose braces and dollars are left alone)."""
    return resources.files("perflab.scaffold").joinpath("templates", name).read_text(encoding="utf-8")
