"""pytest plugin loaded first in a process counted under valgrind (``-p perflab.runners.agents.counted``,
``measure = "instructions"``): pytest starts no subprocess before the benchmarks.

Why. Valgrind runs ``vfork`` as ``fork``, so a child that reports a failed ``exec`` over Python's error pipe
writes its message in pieces while the parent is already reading: the parent reads it in one read or in more
depending on timing, allocates differently, and every allocation after that lands elsewhere in the heap. Code
that grows large lists then pays for a different number of ``realloc`` moves in each process (without this
plugin the shipped sort profile's ``counting_sort[n=10000]`` counted 0.13 to 0.25 % apart between the two
processes of a run; with it, equal).
Natively ``vfork`` suspends the parent until the child has written everything, and two runs allocate the same
blocks at the same addresses.

What starts those subprocesses is pytest-benchmark, before any test runs: its options' defaults ask git and
hg for the project and commit (``pytest_addoption``), and its session asks ``file`` for the interpreter's
word size (``platform.architecture``, from ``pytest_configure``). In this mode pytest-codspeed disables
pytest-benchmark and replaces its fixture, so those answers are never used; this plugin gives them without a
subprocess before pytest-benchmark's plugin is loaded: as pytest registers this plugin (its ``pytest_addoption``),
which ``-p`` does before it loads the installed plugins. Importing the module changes nothing.

Invariant: nothing this plugin replaces is read by a counted benchmark or by perflab; every name it needs from
pytest-benchmark is listed in ``REPLACED`` (a test checks the installed pytest-benchmark still has them).
"""

from __future__ import annotations

import platform
import struct
import sys
from pathlib import Path
from typing import Any

# Modules of pytest-benchmark that import the replaced functions by name
IMPORTERS = ("pytest_benchmark.plugin", "pytest_benchmark.session")


def commit_info(project_name: str | None = None) -> dict[str, Any]:
    """pytest-benchmark's commit info for a project that is not looked up (its own "unversioned" answer)."""
    return {"id": "unversioned", "time": None, "author_time": None, "dirty": False,
            "project": project_name or cwd_name(), "branch": "(unknown)"}


def cwd_name() -> str:
    """pytest-benchmark's fallback project name: the working folder's name."""
    return Path.cwd().name


def tag(project_name: str | None = None) -> str:
    return "unversioned"


def machine_id() -> str:
    """pytest-benchmark's machine id (system, implementation, version, word size) without running ``file``."""
    return "-".join((platform.system(), platform.python_implementation(),
                     ".".join(platform.python_version_tuple()[:2]), f"{struct.calcsize('P') * 8}bit"))


# pytest_benchmark.utils functions that start a subprocess, and what this plugin puts in their place
REPLACEMENTS = {"get_commit_info": commit_info, "get_project_name": cwd_name, "get_tag": tag,
                "get_machine_id": machine_id}
REPLACED = tuple(REPLACEMENTS)


def install() -> None:
    """Replace the subprocess-starting lookups in pytest-benchmark (nothing to do without it)."""
    try:
        import pytest_benchmark.utils as utils
    except ImportError:
        return
    for name, value in REPLACEMENTS.items():
        if not hasattr(utils, name):
            continue
        setattr(utils, name, value)
        for module in IMPORTERS:  # imported already (by a conftest, say): rebind the name it holds too
            m = sys.modules.get(module)
            if m is not None and hasattr(m, name):
                setattr(m, name, value)


def pytest_addoption(parser: Any, pluginmanager: Any) -> None:
    """Runs as pytest registers this plugin, which ``-p`` does before it imports the installed plugins."""
    install()
