"""py-spy sampling of one running process in consecutive windows, merged into one folded profile.

py-spy writes its output only when it stops, so a :class:`Sampler` records windows of ``refresh`` seconds
(``py-spy record --pid P --format raw``, stopped with SIGINT so it writes) and merges each window's folded
stacks (framework/flame.py). After every window it emits ``cpu.window`` and ``cpu.samples`` (count),
``cpu.own`` (ratio, label function, top 5) and the ``top functions`` table; :meth:`Sampler.finish` writes the
merged profile as the flamegraph SVG, speedscope JSON and folded-stacks artifacts, also after Ctrl-C. The gap
while the next py-spy attaches is not sampled: ``sampled_time`` (s) and ``total`` (samples) say how much was
seen. The CPU runner samples its target with it; the load runner samples the server under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from perflab.core.model import Cell, Quantity, ToolError, labels
from perflab.runners.framework import flame
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.output import last_line
from perflab.runners.framework.process import Child
from perflab.runners.framework.tools import tool_options

TOP_COLUMNS = ("own %", "total %", "function", "file:line")


def top_rows(top: Sequence[flame.FunctionShare]) -> tuple[tuple[Cell, ...], ...]:
    """Rows under TOP_COLUMNS: own and total shares of samples (ratios shown as %), function, where."""
    return tuple((Quantity(f.own, "%"), Quantity(f.total, "%"), f.function, f.where) for f in top)
FLAGS = {"native": "--native", "gil_only": "--gil", "idle": "--idle", "subprocesses": "--subprocesses"}
_SAMPLES = re.compile(r"Samples: (\d+) Errors: (\d+)")
STARTUP_RETRY = 3.0  # seconds during which a failed attach is retried (the interpreter may still be starting)


class Sampler:
    """Consecutive py-spy windows on one pid, merged into one folded profile."""

    def __init__(self, ctx: RunContext, pyspy: str, pid: int, p: dict[str, Any], target: Child | None,
                 name: str) -> None:
        self.ctx, self.pyspy, self.pid, self.p, self.target, self.name = ctx, pyspy, pid, p, target, name
        self.rate = int(p.get("rate") or 100)
        self.refresh = float(p.get("refresh") or 2.0)
        # py-spy pauses the target for every sample unless --nonblocking; on a VM those ptrace stops cost the
        # target more than the 5 % the live view may (README, "Overhead"), so the default reads without
        # pausing. A sample read while the stack changes fails (py-spy's errors) or comes out garbled
        # (dropped and counted: flame.drop_garbled). Native
        # frames can only be unwound from a paused process: py-spy refuses --native with --nonblocking.
        self.nonblocking = bool(p.get("nonblocking", True)) and not p.get("native")
        self.stacks: Counter[flame.Stack] = Counter()
        self.windows = 0
        self.sampled_time = 0.0  # seconds py-spy was recording
        self.errors = 0
        self.garbled = 0  # samples dropped: a frame name read while it changed (nonblocking), see flame.drop_garbled
        self.error = ""
        self.current: Child | None = None
        self.current_out: Path | None = None
        self.current_start = 0.0
        self.artifacts: list[tuple[str, Path]] = []
        self.finished = False
        self.shares: dict[str, float] = {}
        self.cycle_overhead = 0.0  # seconds a window took beyond its length (attach, SIGINT, write, parse)
        self.last_window_rate = 0.0  # active samples per second in the last regular window

    @property
    def total(self) -> int:
        return sum(self.stacks.values())

    def alive(self) -> bool:
        if self.target is not None:
            return self.target.returncode is None
        try:
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    async def run(self, duration: float | None) -> None:
        start = time.monotonic()
        deadline = start + duration if duration else None
        failures = 0
        target_done = asyncio.ensure_future(self.target.wait()) if self.target is not None else None
        try:
            while self.alive():
                # py-spy's attach and write take a moment: shorten the window by what the last one cost so
                # the table still comes every ``refresh`` seconds
                w = max(0.6 * self.refresh, self.refresh - self.cycle_overhead - 0.1)  # margin: overheads vary
                if deadline is not None:
                    w = min(w, deadline - time.monotonic())
                    if w < 0.05:
                        break
                # the shares compare against plain windows' active-sample rate: meaningless with --idle/--gil
                probe = (self.windows == 1 and bool(self.p.get("thread_shares", True)) and not self.shares
                         and not self.p.get("idle") and not self.p.get("gil_only"))
                ok = await self._window(w, target_done, probe)
                failures = 0 if ok else failures + 1
                if not ok and self.alive():
                    # before the first window the interpreter may still be starting; later, a window stopped
                    # before py-spy finished attaching (a loaded machine) writes nothing: retry a few times
                    if (not self.windows and time.monotonic() - start > STARTUP_RETRY) or failures >= 3:
                        raise ToolError(f"py-spy failed on pid {self.pid}: {self.error}")
                    await asyncio.sleep(0.1)
        finally:
            if target_done is not None and not target_done.done():
                target_done.cancel()

    def _argv(self, out: Path) -> list[str]:
        return [self.pyspy, "record", "--pid", str(self.pid), "--format", "raw", "--output", str(out),
                "--rate", str(self.rate), *tool_options(self.p, FLAGS),
                *(["--nonblocking"] if self.nonblocking else [])]

    async def _window(self, seconds: float, target_done: asyncio.Future[Any] | None, probe: bool = False) -> bool:
        out = self.ctx.artifacts_dir / f".pyspy-window-{self.windows}.txt"
        self.current_out = out
        self.current_start = time.monotonic()
        self.current = await self.ctx.spawn(self._argv(out), source="py-spy", role="tool", side_channel=False)
        probe_task = asyncio.ensure_future(self._probe(min(1.0, seconds), target_done)) if probe else None
        tool_done = asyncio.ensure_future(self.current.wait())
        waits: set[asyncio.Future[Any]] = {tool_done, asyncio.ensure_future(asyncio.sleep(seconds))}
        if target_done is not None:
            waits.add(target_done)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                if w is not target_done and w is not tool_done:
                    w.cancel()
        got = await self._collect(tool_done)
        self.cycle_overhead = min(max(time.monotonic() - self.current_start - seconds, 0.0), self.refresh / 2)
        if probe_task is not None:
            probe_counts = await probe_task
            if got and probe_counts is not None:
                self._shares(*probe_counts)
        return got

    async def _probe(self, seconds: float,
                     target_done: asyncio.Future[Any] | None) -> tuple[int, int, float] | None:
        """A short pair of windows, ``--idle`` and ``--gil``, run beside a regular window for the thread shares.

        Returns (all-thread samples, GIL-holding samples, seconds). The probe's own samples stay out of the
        profile (idle stacks would swamp it); only their rates are compared with the regular window's.
        """
        outs = {m: self.ctx.artifacts_dir / f".pyspy-probe-{m}.txt" for m in ("idle", "gil")}
        children = []
        start = time.monotonic()
        for mode, out in outs.items():
            argv = self._argv(out)
            if "--" + mode not in argv:  # the user may have asked for --idle / --gil already
                argv.append("--" + mode)
            children.append(await self.ctx.spawn(argv, source=f"py-spy-{mode}", role="tool", side_channel=False))
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(asyncio.sleep(seconds))]
        if target_done is not None:
            waits.append(target_done)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waits[0].cancel()
            for child in children:
                await child.stop(interrupt_grace=3.0, term_grace=1.0)
        elapsed = time.monotonic() - start
        counts = {m: sum(flame.parse_folded(out.read_text(errors="replace")).values()) if out.exists() else 0
                  for m, out in outs.items()}
        for out in outs.values():
            out.unlink(missing_ok=True)
        return (counts["idle"], counts["gil"], elapsed) if counts["idle"] >= 10 else None

    def _shares(self, all_n: int, gil_n: int, probe_seconds: float) -> None:
        """idle share = 1 - active rate / all-threads rate; GIL share = GIL-holding rate / active rate."""
        active_rate = self.last_window_rate
        if not active_rate or not probe_seconds:
            return
        all_rate, gil_rate = all_n / probe_seconds, gil_n / probe_seconds
        self.shares = {"idle_share": max(0.0, min(1.0, 1.0 - active_rate / all_rate)),
                       "gil_share": max(0.0, min(1.0, gil_rate / active_rate)),
                       "active_threads": active_rate / self.rate, "probe_seconds": probe_seconds}
        self.ctx.sample("cpu.idle_share", self.shares["idle_share"])
        self.ctx.sample("cpu.gil_share", self.shares["gil_share"])

    async def _collect(self, tool_done: asyncio.Future[Any] | None = None) -> bool:
        child, out = self.current, self.current_out
        if child is None or out is None:
            return False
        if child.returncode is None:
            await child.stop(interrupt_grace=3.0, term_grace=1.0)  # SIGINT: py-spy writes what it has
        if tool_done is not None:
            with contextlib.suppress(Exception):
                await tool_done
        self.current = None
        elapsed = time.monotonic() - self.current_start
        for line in list(child.stdout_tail) + list(child.stderr_tail):
            m = _SAMPLES.search(line)
            if m:
                self.errors += int(m.group(2))
        if not out.exists():
            self.error = last_line(child.stderr_tail, last_line(child.stdout_tail, "no output"))
            return False
        got, garbled = flame.drop_garbled(flame.parse_folded(out.read_text(encoding="utf-8", errors="replace")))
        self.garbled += garbled
        out.unlink()
        self.windows += 1
        self.sampled_time += elapsed
        self.stacks.update(got)
        n = sum(got.values())
        self.last_window_rate = n / elapsed if elapsed else 0.0
        self.ctx.sample("cpu.window", n)
        self.ctx.sample("cpu.samples", self.total)
        top = flame.top_functions(self.stacks, 15)
        for f in top[:5]:
            self.ctx.sample("cpu.own", f.own, labels(function=f.function))
        self.ctx.table("top functions", TOP_COLUMNS, top_rows(top))
        return True

    async def finish(self) -> None:
        """Stop a window still open (keeping its samples) and write the artifacts; idempotent."""
        if self.finished:
            return
        self.finished = True
        if self.current is not None:
            await self._collect()
        if not self.stacks:
            return
        folder = self.ctx.artifacts_dir
        title = f"{self.name}: {self.total:,} samples at {self.rate} Hz (py-spy)"
        for kind, fname, writer, desc in (
            ("flamegraph", "flamegraph.svg", lambda pth: flame.write_svg(self.stacks, pth, title),
             "CPU flamegraph (SVG; open in a browser)"),
            ("speedscope", "profile.speedscope.json", lambda pth: flame.write_speedscope(self.stacks, pth, title),
             "CPU profile for https://www.speedscope.app"),
            ("folded", "profile.folded", lambda pth: flame.write_folded(self.stacks, pth),
             "folded stacks (flamegraph.pl / inferno input)"),
        ):
            path = folder / fname
            writer(path)
            self.artifacts.append((kind, path))
            self.ctx.artifact(kind, path, desc)
