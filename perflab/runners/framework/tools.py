"""Where perflab finds the console tools it launches (py-spy, memray, locust, pytest, uvicorn, ...).

The rule, in order:

1. the scripts folder of the running interpreter's environment: ``Path(sys.executable).parent`` as given,
   NOT resolved (a virtualenv's ``python`` is a symlink to the base interpreter, whose folder does not hold
   the venv's tools), then ``sysconfig.get_path("scripts")``;
2. PATH (``shutil.which``).

So ``venv/bin/perflab`` started without an activated virtualenv (cron, CI, an IDE) uses the tools installed
beside it, not a different copy or none. Every child perflab starts gets the same folders at the front of its
PATH (:func:`child_path`), so the child, and whatever it starts in turn, resolves a tool the same way.
A name containing a path separator is taken as given and only checked to be executable.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from typing import Any

from perflab.core.model import ToolError


def scripts_dirs() -> list[str]:
    """The running environment's scripts folders, most specific first, without duplicates."""
    found: list[str] = []
    candidates = [os.path.dirname(os.path.abspath(sys.executable)) if sys.executable else None,
                  sysconfig.get_path("scripts")]
    for d in candidates:
        if d and os.path.isdir(d) and d not in found:
            found.append(d)
    return found


def find_tool(name: str) -> str | None:
    """Absolute path of the console tool ``name`` (scripts folders first, then PATH), or None."""
    if os.sep in name or (os.altsep and os.altsep in name):
        return os.path.abspath(name) if shutil.which(name) else None
    dirs = scripts_dirs()
    path = shutil.which(name, path=os.pathsep.join(dirs)) if dirs else None
    path = path or shutil.which(name)
    return os.path.abspath(path) if path else None


def require_tool(name: str, install_hint: str) -> str:
    """Like :func:`find_tool`, but a missing tool is a ToolError (exit 3) saying where it was looked for."""
    path = find_tool(name)
    if path is None:
        dirs = ", ".join(scripts_dirs())
        where = f"in {dirs} or on PATH" if dirs else "on PATH"
        raise ToolError(f"{name} is not installed {where} ({install_hint})")
    return path


def child_path(path: str | None) -> str:
    """A child's PATH: the scripts folders first, then ``path`` (the default search path when unset).

    Only prepends; other entries keep their order. Idempotent, so applying it twice changes nothing.
    """
    dirs = scripts_dirs()
    path = os.defpath if path is None else path
    rest = path.split(os.pathsep) if path else []
    return os.pathsep.join([*dirs, *(p for p in rest if p not in dirs)])


def tool_options(params: Mapping[str, Any], flags: Mapping[str, str]) -> list[str]:
    """The flags in ``flags`` (parameter name -> flag) whose parameter is true, in ``flags``' order."""
    return [flag for key, flag in flags.items() if params.get(key)]
