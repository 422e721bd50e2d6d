"""memray as a tool: how to start it, and the reports perflab makes from a capture.

:func:`memray_command` finds memray (the profile's ``memray`` executable, else this interpreter's memray
module, else a ``memray`` on the tools' path). :func:`write_reports` turns a finished capture (``memray run
--output FILE``) into ``memray stats --json`` and the peak and leaks flamegraphs (HTML), each an artifact; a
report that fails or takes longer than 120 s becomes a notice, never an error, so a capture from a killed
target still yields what it can. The memory runner profiles its target with them; the load runner profiles
the server under test.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from perflab.core.model import ToolError
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.child import short_path
from perflab.runners.framework.output import last_line
from perflab.runners.framework.process import Child
from perflab.runners.framework.tools import find_tool

REPORT_TIMEOUT = 120.0  # s a memray report may take before it is stopped


def memray_command(p: Mapping[str, Any]) -> list[str]:
    """How to start memray: the configured executable, else this interpreter's memray module."""
    exe = p.get("memray")
    if exe:
        path = find_tool(exe)
        if path is None:
            raise ToolError(f"memray executable {exe!r} not found (pip install memray)")
        return [path]
    if importlib.util.find_spec("memray") is None:
        found = find_tool("memray")
        if found is None:
            raise ToolError("memray is not installed (pip install memray)")
        return [found]
    return [sys.executable, "-m", "memray"]


async def _tool(ctx: RunContext, argv: list[str], what: str) -> Child | None:
    child = await ctx.spawn(argv, source="memray", role="tool", side_channel=False, monitor=False)
    try:
        code = await child.wait(timeout=REPORT_TIMEOUT)
    except TimeoutError:
        ctx.notice(f"memray {what} took longer than {REPORT_TIMEOUT:g} s and was stopped")
        return None
    if code != 0:
        ctx.notice(f"memray {what} failed: {last_line(child.stderr_tail)}")
        return None
    return child


async def write_reports(ctx: RunContext, memray: list[str], capture: Path, top: int) -> dict[str, Path]:
    """The reports of ``capture`` (stats with the ``top`` largest allocators, flamegraph, leaks), run at once.

    Returns the reports written, by name (``stats``, ``flamegraph``, ``leaks``); an empty or missing capture
    gives none. Each one written is also an artifact, as is the capture itself.
    """
    if _size(capture) == 0:
        return {}
    ctx.artifact("memray", capture, "memray capture (memray summary/table/tree work on it)")
    ctx.phase("report", "memray stats and flamegraphs", 0.9)
    folder = ctx.artifacts_dir
    jobs = {
        "stats": (["stats", "--json", "--num-largest", str(top), "--force", "--output",
                   str(folder / "memray-stats.json"), str(capture)], folder / "memray-stats.json", "stats"),
        "flamegraph": (["flamegraph", "--no-web", "--force", "--output", str(folder / "memray-flamegraph.html"),
                        str(capture)], folder / "memray-flamegraph.html",
                       "memory flamegraph at the peak (HTML)"),
        "leaks": (["flamegraph", "--leaks", "--no-web", "--force", "--output",
                   str(folder / "memray-leaks.html"), str(capture)], folder / "memray-leaks.html",
                  "leaks flamegraph: memory never freed (HTML)"),
    }
    results = await asyncio.gather(*(_tool(ctx, [*memray, *argv], name) for name, (argv, _, _) in jobs.items()),
                                   return_exceptions=True)
    out: dict[str, Path] = {}
    for (name, (_, path, desc)), res in zip(jobs.items(), results, strict=True):
        if isinstance(res, Child) and _size(path):
            out[name] = path
            if name != "stats":
                ctx.artifact(f"memray-{name}" if name == "leaks" else "flamegraph", path, desc)
            else:
                ctx.artifact("memray-stats", path, "memray stats (JSON)")
    return out


def _size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def location_label(loc: str) -> str:
    """memray's ``function:file:line`` as ``function (file:line)`` with a short file path."""
    func, _, rest = loc.partition(":")
    file, _, line = rest.rpartition(":")
    return f"{func} ({short_path(file)}:{line})" if file else loc
