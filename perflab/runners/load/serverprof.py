"""Profile a load profile's ``[serve]`` server while it is under load (``profile_cpu`` / ``profile_memory``).

CPU: the CPU runner's py-spy sampler (runners/framework/sampling.py) attaches to the server's pid for the
whole load phase, so the ``cpu.*`` series and the ``top functions`` table share the latency series' time axis;
the flamegraph, speedscope and folded artifacts are written when the load ends (also after Ctrl-C).
Memory: the server is started under ``memray run --output server-memray.bin`` (a Python server command only);
after it stops, memray's stats and flamegraphs become artifacts and the load result gains the server's peak
memory and top allocators. Latency measured with memray on is slower than without: the note says so.

memray writes its capture from the server's own process, so the server's storage writes include it. The bytes
it wrote are recorded in ``data["profiler_io"]["server"]`` and subtracted by the bottleneck label: the raw
capture's size just before the server is stopped, plus the compressed file memray writes at exit (the raw one
is then deleted, but /proc/<pid>/io had already counted its pages as written).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import replace
from pathlib import Path

from perflab.core import units
from perflab.core.model import ExitCode, Level, Note, PerflabError, Profile, Quantity, Result, SummaryTable
from perflab.runners.framework import flame
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.memray_capture import location_label, memray_command, write_reports
from perflab.runners.framework.sampling import TOP_COLUMNS, Sampler, top_rows
from perflab.runners.framework.tools import require_tool

MEMRAY_CAPTURE = "server-memray.bin"


def memray_argv(profile: Profile, ctx: RunContext, argv: list[str]) -> list[str]:
    """The server's argv, run under memray when the profile asks for ``profile_memory``."""
    if not profile.test.params.get("profile_memory"):
        return argv
    if not os.path.basename(argv[0]).startswith("python") or len(argv) < 2:
        raise PerflabError("test.profile_memory: memray runs Python servers only; start serve.command with "
                           f"python (got {argv[0]!r})", ExitCode.BAD_INPUT)
    capture = ctx.artifacts_dir / MEMRAY_CAPTURE
    return [*memray_command({}), "run", "--quiet", "--force", "--output", str(capture), *argv[1:]]


class ServerProfiles:
    """Started after the server is ready; ``finish`` runs after the server stopped, however the load ended."""

    def __init__(self, profile: Profile, ctx: RunContext, pid: int) -> None:
        self.profile, self.ctx, self.pid = profile, ctx, pid
        self.sampler: Sampler | None = None
        self.task: asyncio.Future[None] | None = None
        self.memray_outputs: dict[str, Path] = {}
        self.capture_before_stop = 0  # bytes of the raw memray capture just before the server was stopped

    async def start(self) -> ServerProfiles:
        if self.profile.test.params.get("profile_cpu"):
            pyspy = require_tool("py-spy", "pip install py-spy")
            # the server may be a wrapper (memray run, a shell): follow its Python subprocesses too
            params = {"rate": 100, "refresh": 2.0, "thread_shares": False, "subprocesses": True}
            self.sampler = Sampler(self.ctx, pyspy, self.pid, params, None, f"{self.profile.name} (server)")
            self.task = asyncio.ensure_future(self.sampler.run(None))
        return self

    async def stop_sampling(self) -> None:
        """Before the server stops: close the open py-spy window and write the CPU artifacts; note the size of
        memray's raw capture."""
        if self.task is not None and self.sampler is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            await self.sampler.finish()
        if self.profile.test.params.get("profile_memory"):
            with contextlib.suppress(OSError):
                self.capture_before_stop = (self.ctx.artifacts_dir / MEMRAY_CAPTURE).stat().st_size

    async def finish(self) -> None:
        """After the server stopped: memray reports from its capture."""
        if self.profile.test.params.get("profile_memory"):
            self.memray_outputs = await write_reports(self.ctx, memray_command({}),
                                                      self.ctx.artifacts_dir / MEMRAY_CAPTURE, 10)

    def memray_written(self) -> int:
        """Bytes memray wrote to storage from the server: the raw capture, and the compressed copy memray makes
        at exit when there is one (a smaller file than the raw one seen before the stop)."""
        try:
            final = (self.ctx.artifacts_dir / MEMRAY_CAPTURE).stat().st_size
        except OSError:
            final = 0
        return self.capture_before_stop + final if final < self.capture_before_stop else final

    def annotate(self, result: Result) -> Result:
        notes, tables, data = list(result.notes), list(result.tables), dict(result.data)
        if self.profile.test.params.get("profile_memory"):  # core.bottleneck leaves these writes out
            data["profiler_io"] = {**dict(data.get("profiler_io") or {}),
                                   "server": {"what": "memray's capture, written from the server's process",
                                              "write_bytes": self.memray_written()}}
        s = self.sampler
        if s is not None and s.total:
            top = flame.top_functions(s.stacks, 10)
            notes.append(Note(f"server CPU (py-spy, {s.total:,} samples): hottest function {top[0].function} "
                              f"({top[0].where}) with {units.percent(top[0].own)} of samples"))
            tables.append(SummaryTable("server: top functions under load (py-spy)", TOP_COLUMNS, top_rows(top)))
            data["server_cpu"] = {"samples": s.total, "top": [f.__dict__ for f in top]}
        stats_path = self.memray_outputs.get("stats")
        if stats_path is not None:
            stats = json.loads(stats_path.read_text(encoding="utf-8"))
            peak = float((stats.get("metadata") or {}).get("peak_memory") or 0)
            allocs = (stats.get("top_allocations_by_size") or [])[:10]
            notes.append(Note(f"server memory (memray): peak {units.size(peak)}, "
                              f"{units.size(stats.get('total_bytes_allocated') or 0)} allocated; latencies were "
                              "measured with memray tracking the server: not comparable with a plain run",
                              Level.INFO, "not_comparable"))
            tables.append(SummaryTable("server: top allocators under load (memray)", ("location", "allocated"),
                                       tuple((location_label(a["location"]), Quantity(float(a["size"]), "B"))
                                             for a in allocs)))
            data["server_memory"] = {"peak_memory": peak, "total_allocated": stats.get("total_bytes_allocated"),
                                     "allocations": stats.get("total_num_allocations"), "top_allocators": allocs}
        elif self.profile.test.params.get("profile_memory"):
            notes.append(Note("server memory: memray wrote no usable capture (the server may have been killed)",
                              Level.WARNING, "server.memory_missing"))
        return replace(result, notes=tuple(notes), tables=tuple(tables), data=data)


