"""Memory runner on memray: where does the memory go?

Targets: a script (with args), a Python command (``python ...``: memray runs Python programs only) or a
``module:function`` callable run in a loop (``duration`` or ``iterations``). The target runs under
``memray run --output capture.bin``, a callable (with this interpreter's memray) under memray's Tracker from
its import on (agents/memray_loop.py), so perflab's own imports are not counted; while it runs the process monitor streams its RSS (``proc.rss``,
role target) and the heap over time (``mem.heap``, bytes) is read from the capture (runners/profile/heap_series.py);
``live = true`` streams it from memray's live mode instead, with the top allocators, but writes no capture. At the end ``memray stats --json`` gives peak memory, total allocated, the allocation count and
the top allocators, and ``memray flamegraph`` / ``memray flamegraph --leaks`` write the HTML reports
(runners/framework/memray_capture.py).

Metrics: ``peak_memory``, ``total_allocated`` (B), ``allocations`` (count), ``run_time`` (s) and
``calls_per_s`` (callable targets) -- the last two were taken under memray: not comparable, never gated.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from perflab.core import units
from perflab.core.model import (
    ExitCode,
    Level,
    Metric,
    Note,
    PerflabError,
    Profile,
    Quantity,
    Result,
    Status,
    SummaryTable,
    ToolError,
)
from perflab.runners.agents import wire
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.child import child_env, short_path, target_config
from perflab.runners.framework.memray_capture import location_label, memray_command, write_reports
from perflab.runners.framework.output import last_line
from perflab.runners.framework.process import Child
from perflab.runners.framework.tools import tool_options
from perflab.runners.profile import memray_live
from perflab.runners.profile import profiled as pr
from perflab.runners.profile.heap_series import HeapSeries

FLAGS = {"native": "--native", "trace_python_allocators": "--trace-python-allocators",
         "follow_fork": "--follow-fork"}
ALLOC_COLUMNS = ("location", "allocated", "allocations")
PROFILER_IO = "memray writes its capture from the target's process"
TRACKED_LOOP = "perflab.runners.agents.memray_loop"
AGENTS = os.path.dirname(os.path.abspath(wire.__file__))
LIVE_COLUMNS = ("location", "heap", "blocks")


def run_args(profile: Profile, ctx: RunContext, duration: float | None, iterations: int | None) -> list[str]:
    """What follows ``memray run [options]``: a file, ``-m module`` or ``-c code`` and their args."""
    t = profile.target
    if t.kind != "command":
        return pr.python_args(profile, ctx, duration=duration, iterations=iterations)
    argv = [str(a) for a in t.value] + [str(a) for a in t.options.get("args") or []]
    if not os.path.basename(argv[0]).startswith("python") or len(argv) < 2:
        raise PerflabError(f"target.command: memray runs Python programs only; start the command with python "
                           f"(got {argv[0]!r})", ExitCode.BAD_INPUT)
    return argv[1:]


class MemoryRunner:
    test_type = "memory"

    async def run(self, profile: Profile, ctx: RunContext) -> Result:
        p = dict(profile.test.params)
        memray = memray_command(p)
        duration: float | None = p.get("duration")
        iterations: int | None = p.get("iterations")
        kind = profile.target.kind
        if kind == "callable" and duration is None and iterations is None:
            duration = 5.0
        capture = ctx.artifacts_dir / "memray.bin"
        live = bool(p.get("live"))
        if live and p.get("follow_fork"):
            raise PerflabError("test.follow_fork: memray cannot follow forks in live mode", ExitCode.BAD_INPUT)
        port = memray_live.free_port() if live else 0
        dest = ["--live-remote", "--live-port", str(port)] if live else ["--force", "--output", str(capture)]
        args = run_args(profile, ctx, duration if kind == "callable" else None, iterations)
        argv = [*memray, "run", "--quiet", *dest, *tool_options(p, FLAGS), *args]
        if kind == "callable" and not live and memray == [sys.executable, "-m", "memray"]:
            # tracked from the target's import on: perflab's own imports are not the target's allocations
            config = {**target_config(profile, ctx), "duration": duration, "iterations": iterations,
                      "memray": {"output": str(capture), **{k: bool(p.get(k)) for k in FLAGS}}}
            argv = [sys.executable, "-m", TRACKED_LOOP, json.dumps(config)]
        workdir = pr.workdir_of(profile, ctx)
        env = child_env(workdir, profile.target.options.get("env") or {})
        calls = pr.LoopCalls()
        ctx.phase("run", f"running under memray{' (live)' if live else ''}"
                  f"{' (native frames)' if p.get('native') else ''}", 0.0)
        started = time.monotonic()
        child = await ctx.spawn(argv, source="target", cwd=workdir, env=env, on_record=calls.on_record)
        reader, reader_task = None, None
        heap = None if live else await HeapSeries(ctx).start(capture)  # live mode streams its own heap
        if live:
            reader = memray_live.LiveReader(port, float(p["interval"]), int(p["top"]),
                                            lambda heap, top: _live_event(ctx, heap, top),
                                            alive=lambda: child.returncode is None)
            reader_task = asyncio.ensure_future(reader.run())
        stopped = False
        cancelled = False  # the run was stopped (the app's stop, Ctrl-C): what was captured is the result
        code: int | None = None
        outputs: dict[str, Path] = {}
        try:
            limit = duration + 30.0 if (kind == "callable" and duration) else duration
            code, stopped = await _wait(child, limit, reader_task)
        except asyncio.CancelledError:
            cancelled = True
            ctx.phase("stop", "stopping the target; memray reports on what it captured")
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # this task goes on to summarise the capture (a second cancel still ends it)
        finally:
            elapsed = time.monotonic() - started
            if child.returncode is None:
                stopped = True
                await child.stop(interrupt_grace=3.0, term_grace=2.0)
            if reader is not None and reader_task is not None:
                reader.stop()
                await asyncio.wait({reader_task}, timeout=5.0)
            else:
                # written even after Ctrl-C or a crash: whatever memray captured becomes a report; the heap
                # reader's last read of the same capture goes on beside them
                outputs, _ = await asyncio.gather(write_reports(ctx, memray, capture, p["top"]),
                                                  heap.finish() if heap is not None else asyncio.sleep(0))
        if cancelled:
            if reader is not None and reader.state.snapshots:
                return stopped_early(summarize_live(profile, reader.state, elapsed, calls), elapsed, duration)
            if reader is None and "stats" in outputs:
                stats = json.loads(outputs["stats"].read_text(encoding="utf-8"))
                return stopped_early(summarize(profile, stats, elapsed, calls, int(p["top"])), elapsed, duration)
            raise asyncio.CancelledError  # nothing was captured: the engine reports the stop alone
        if not stopped and code != 0:
            raise pr.target_failure(code, child.stderr_tail, elapsed)
        if reader is not None:
            if not reader.state.snapshots:
                raise ToolError(f"could not read memray's live session on port {port}: "
                                f"{reader.state.error or last_line(child.stderr_tail)}")
            return summarize_live(profile, reader.state, elapsed, calls)
        if "stats" not in outputs:
            raise ToolError(f"memray wrote no usable capture ({last_line(child.stderr_tail)})")
        stats = json.loads(outputs["stats"].read_text(encoding="utf-8"))
        return summarize(profile, stats, elapsed, calls, int(p["top"]))


def stopped_early(result: Result, elapsed: float, planned: float | None) -> Result:
    """``result`` of a run stopped before its end: partial (``data["partial"]``, a ``run.partial`` note), its
    figures those of the capture until the stop."""
    of = f" of {units.duration(planned)} planned" if planned else ""
    note = Note(f"Partial: stopped after {units.duration(elapsed)}{of}; the figures cover what memray captured "
                "until then.", Level.WARNING, "run.partial")
    return replace(result, data={**result.data, "partial": True}, notes=(note, *result.notes))


async def _wait(child: Child, limit: float | None,
                reader_task: asyncio.Future[Any] | None) -> tuple[int | None, bool]:
    """Wait for the target (exit code, stopped-by-us); a live reader that never connected stops it."""
    waiter = asyncio.ensure_future(child.wait(timeout=limit))
    try:
        if reader_task is not None:
            await asyncio.wait({waiter, reader_task}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done() and reader_task.done() and not reader_task.result().snapshots:
                # memray waits for a client before running the program: without one it would wait for ever
                await child.stop(interrupt_grace=1.0, term_grace=1.0)
                return child.returncode, True
        return await waiter, False
    except TimeoutError:  # a script/command profiled for ``duration``: stopped with SIGINT, kept
        return child.returncode, True
    finally:
        if not waiter.done():
            waiter.cancel()


def _live_event(ctx: RunContext, heap: float, top: list[tuple[memray_live.Site, float, int]]) -> None:
    ctx.sample("mem.heap", heap)
    ctx.table("top allocators (live heap)", LIVE_COLUMNS,
              [(f"{f} ({short_path(file)}:{line})" if file else f, Quantity(b, "B"), int(n))
               for (f, file, line), b, n in top])


def summarize_live(profile: Profile, st: memray_live.LiveHeap, elapsed: float,
                   calls: pr.LoopCalls) -> Result:
    metrics = [Metric("heap_peak_observed", st.peak, "B"), Metric("heap_end", st.last, "B"),
               Metric("run_time", elapsed, "s", comparable=False)]
    notes = [Note(f"largest heap seen {units.size(st.peak)} over {st.snapshots} live snapshots (a lower bound of "
                  f"the true peak); heap at the end {units.size(st.last)}"),
             Note("live mode: memray writes no capture, so no flamegraphs, totals or allocation counts "
                  "(run without live = true for those)")]
    cps = calls.rate()
    if cps is not None:
        metrics.append(Metric("calls_per_s", cps, "/s", comparable=False))
    rows = tuple((f"{f} ({short_path(file)}:{line})" if file else f, Quantity(b, "B"), int(n))
                 for (f, file, line), b, n in st.top)
    tables = (SummaryTable(f"{profile.name}: live heap at its largest (memray live)", LIVE_COLUMNS, rows),)
    data = {"heap_peak_observed": st.peak, "heap_end": st.last, "snapshots": st.snapshots,
            "top_allocators": [{"function": f, "file": file, "line": line, "size": b, "blocks": n}
                               for (f, file, line), b, n in st.top]}
    return Result(Status.PASSED, notes[0].text, tuple(metrics), {}, data, tables, tuple(notes))


def _agent_line(location: str) -> bool:
    """Whether memray's ``function:file:line`` is a line of perflab's agents."""
    return os.path.dirname(location.partition(":")[2].rpartition(":")[0]) == AGENTS


def summarize(profile: Profile, stats: dict[str, Any], elapsed: float, calls: pr.LoopCalls,
              top: int) -> Result:
    meta = stats.get("metadata") or {}
    peak = float(meta.get("peak_memory") or 0)
    total = float(stats.get("total_bytes_allocated") or 0)
    count = float(stats.get("total_num_allocations") or 0)
    counts = {a["location"]: a["count"] for a in stats.get("top_allocations_by_count") or []}
    allocators = [(a["location"], float(a["size"]), counts.get(a["location"]))
                  for a in (stats.get("top_allocations_by_size") or [])[:top]]
    # the loop agent's own lines (a callable's calls and progress messages) are perflab's, not the target's
    own = [a for a in allocators if _agent_line(a[0])]
    allocators = [a for a in allocators if not _agent_line(a[0])]
    metrics = [Metric("peak_memory", peak, "B"), Metric("total_allocated", total, "B"),
               Metric("allocations", count, "count"), Metric("run_time", elapsed, "s", comparable=False)]
    notes = [Note(f"peak memory {units.size(peak)}; {units.size(total)} allocated in {count:,.0f} allocations")]
    if allocators:
        loc, size, _ = allocators[0]
        notes.append(Note(f"top allocator: {location_label(loc)} ({units.size(size)}, "
                          f"{units.percent(size / total if total else 0)} of all bytes allocated)"))
    own_count = sum(n for loc, n in counts.items() if _agent_line(loc))
    if own or own_count:
        notes.append(Note(f"perflab's loop agent lines (its calls of the target, its counter) made at least "
                          f"{own_count:,} allocations, {units.size(sum(a[1] for a in own))}, counted in the totals "
                          "and not listed among the top allocators"))
    cps = calls.rate()
    if cps is not None:
        metrics.append(Metric("calls_per_s", cps, "/s", comparable=False))
        notes.append(Note(f"{calls.n:,} calls in {calls.elapsed:.2f} s under memray "
                          f"({units.rate(cps)}; not comparable, never gated)", Level.INFO, "not_comparable"))
    notes.append(Note("timings taken under memray are not comparable and never gated", Level.INFO,
                      "not_comparable"))
    rows = tuple((location_label(loc), Quantity(size, "B"), None if c is None else int(c))
                 for loc, size, c in allocators)
    tables = (
        SummaryTable(f"{profile.name}: memory (memray)", ("peak memory", "total allocated", "allocations"),
                     ((Quantity(peak, "B"), Quantity(total, "B"), int(count)),)),
        SummaryTable("top allocators by bytes allocated", ALLOC_COLUMNS, rows),
    )
    data = {"peak_memory": peak, "total_allocated": total, "allocations": count,
            "top_allocators": [{"location": loc, "size": size, "count": c} for loc, size, c in allocators],
            "allocator_types": stats.get("allocator_type_distribution"), "elapsed": elapsed,
            # memray writes its capture from inside the target: core.bottleneck must not call that the target's I/O
            "profiler_io": {"target": PROFILER_IO}}
    return Result(Status.PASSED, notes[0].text, tuple(metrics), {}, data, tables, tuple(notes))
