"""CPU runner on py-spy: where does the time go?

Targets: a script (with args), any command, a ``module:function`` callable run in a loop (for ``duration``
or ``iterations``), or a running ``pid`` (attach; permission is checked first, see
runners/profile/profiled.py).

py-spy writes its output only when it stops, so perflab samples in consecutive windows of ``refresh``
seconds (``py-spy record --pid P --format raw``, stopped with SIGINT so it writes; the sampler is
runners/framework/sampling.py): each window's folded stacks are merged, the live ``top functions`` table is
re-emitted after every window, and the merged profile becomes the artifacts (flamegraph SVG, speedscope JSON,
folded stacks). The gap while the next py-spy attaches is not sampled; ``coverage`` (samples taken / samples the rate asks for) says how much was seen.
py-spy runs with ``--nonblocking`` by default (it reads the target's memory without stopping it): its
ptrace stops would cost the target more than the live view's 5 % budget (README, "Overhead").

Events: ``cpu.samples`` (count so far), ``cpu.window`` (samples per window), ``cpu.own`` (ratio, label
function, top 5 after each window), table ``top functions``. Metrics: ``samples`` (count), ``duration`` (s
sampled), ``coverage`` (ratio), ``own`` and ``total`` (ratio, label function; top 10), ``calls_per_s``
(callable targets; taken while sampled: not comparable, never gated).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from perflab.core import units
from perflab.core.model import (
    Level,
    Metric,
    Note,
    Profile,
    Result,
    Status,
    SummaryTable,
    ToolError,
    labels,
)
from perflab.runners.framework import flame
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.child import child_env
from perflab.runners.framework.process import Child
from perflab.runners.framework.sampling import TOP_COLUMNS, Sampler, top_rows
from perflab.runners.framework.tools import require_tool
from perflab.runners.profile import profiled as pr

MIN_SAMPLES = 20  # fewer samples than this (0.2 s at 100 Hz): no hottest-function verdict (an error when the
# target ended on its own: its profile is start-up); a share of n samples is known to +-1/sqrt(n) at best


class CpuRunner:
    test_type = "cpu"

    async def run(self, profile: Profile, ctx: RunContext) -> Result:
        p = dict(profile.test.params)
        pyspy = require_tool(str(p.get("py_spy") or "py-spy"), "pip install py-spy")
        kind = profile.target.kind
        duration: float | None = p.get("duration")
        iterations: int | None = p.get("iterations")
        child: Child | None = None
        calls = pr.LoopCalls()
        if kind == "pid":
            pid = int(profile.target.value)
            pr.check_attach(pid)
            duration = duration or 10.0
            ctx.watch(pid, "target")
        else:
            if kind == "callable" and duration is None and iterations is None:
                duration = 5.0
            argv = pr.target_argv(profile, ctx, duration=duration if kind == "callable" else None,
                                  iterations=iterations)
            env = child_env(pr.workdir_of(profile, ctx), profile.target.options.get("env") or {})
            child = await ctx.spawn(argv, source="target", cwd=pr.workdir_of(profile, ctx), env=env,
                                    on_record=calls.on_record)
            pid = child.pid
        sampler = Sampler(ctx, pyspy, pid, p, child, profile.name)
        started = time.monotonic()
        try:
            await sampler.run(duration)
        finally:
            # written even when the run is stopped or cancelled (Ctrl-C): whatever was sampled is kept
            await sampler.finish()
            if kind == "pid":
                pr.ensure_running(pid)
        elapsed = time.monotonic() - started
        if child is not None:
            if kind == "callable" and child.returncode is None:
                # the loop agent ends on its own a moment after the sampling deadline (it started later)
                with contextlib.suppress(TimeoutError):
                    await child.wait(timeout=3.0)
            if child.returncode is None:
                await child.stop(interrupt_grace=2.0, term_grace=1.0)
            else:
                await child.wait()
            code = child.returncode
            stopped_by_us = bool(child.signals_sent)
            if not stopped_by_us and code not in (0, None):
                raise pr.target_failure(code, child.stderr_tail, elapsed)
        if not sampler.total:
            why = "the target exited before py-spy could take a sample" if kind != "pid" else "no samples"
            raise ToolError(f"{why} ({sampler.error or 'py-spy saw no Python stacks'})")
        ended_alone = child is not None and not child.signals_sent  # a pid target is sampled while it runs on
        if ended_alone and (sampler.total < MIN_SAMPLES or not _saw_script(profile, sampler)):
            # a target that ends at once leaves a profile of interpreter start-up: not worth a verdict
            raise ToolError(f"the target exited after {elapsed:.2f} s with only {sampler.total} samples, none or "
                            f"too few of its own code, too few to profile (run it longer, or profile a callable "
                            f"for a duration)")
        return summarize(profile, sampler, calls)


def _saw_script(profile: Profile, sampler: Sampler) -> bool:
    """For a script target: did any sample run the script's own file (not only interpreter start-up)?"""
    if profile.target.kind != "script":
        return True
    name = Path(str(profile.target.value)).name
    return any(flame.split_frame(frame)[1].endswith(name) for stack in sampler.stacks for frame in stack)


def summarize(profile: Profile, s: Sampler, calls: pr.LoopCalls) -> Result:
    top = flame.top_functions(s.stacks, 10)
    expected = s.sampled_time * s.rate
    coverage = min(s.total / expected, 1.0) if expected else 0.0
    metrics = [Metric("samples", s.total, "count"), Metric("duration", s.sampled_time, "s"),
               Metric("coverage", coverage, "ratio")]
    for f in top:
        metrics.append(Metric("own", f.own, "ratio", labels(function=f.function)))
        metrics.append(Metric("total", f.total, "ratio", labels(function=f.function)))
    notes: list[Note] = []
    cps = calls.rate()
    if cps is not None:
        metrics.append(Metric("calls_per_s", cps, "/s", comparable=False))
        notes.append(Note(f"{calls.n:,} calls in {calls.elapsed:.2f} s while sampled "
                          f"({units.rate(cps)}; not comparable, never gated)", Level.INFO, "not_comparable"))
    hottest = top[0]
    message = f"hottest function: {hottest.function} ({hottest.where}) with {units.percent(hottest.own)} of samples"
    too_few = s.total < MIN_SAMPLES
    if too_few:
        # one sample is "100 % of samples" whatever the target does: too little data for a verdict
        message = (f"too little data for a verdict: {s.total} sample{'s' if s.total != 1 else ''} (at least "
                   f"{MIN_SAMPLES} needed); most seen in {hottest.function} ({hottest.where})")
    notes.insert(0, Note(message, Level.WARNING if too_few else Level.INFO))
    paused = "target not paused to sample (nonblocking)" if s.nonblocking else "target paused for each sample"
    notes.append(Note(f"{s.total:,} samples in {s.windows} py-spy windows over {s.sampled_time:.1f} s "
                      f"(coverage {units.percent(coverage)} of {s.rate} Hz; attach gaps between windows are not "
                      f"sampled; {paused})"))
    if s.errors:
        notes.append(Note(f"py-spy reported {s.errors} sampling errors", Level.WARNING, "sampling.errors"))
    if s.garbled:
        notes.append(Note(f"{s.garbled} samples dropped as garbled (a frame read while it changed: nonblocking "
                          "sampling)", Level.INFO, "sampling.garbled"))
    tables = (SummaryTable(f"{profile.name}: top functions (py-spy, {s.rate} Hz)", TOP_COLUMNS, top_rows(top)),)
    data = {"top": [f.__dict__ for f in top], "samples": s.total, "windows": s.windows,
            "sampled_time": s.sampled_time, "coverage": coverage, "rate": s.rate, "errors": s.errors,
            "garbled": s.garbled, "nonblocking": s.nonblocking, "enough_samples": s.total >= MIN_SAMPLES,
            "artifacts": {k: str(pth) for k, pth in s.artifacts}}
    if s.shares:
        data["threads"] = s.shares  # core.bottleneck reads it next to the monitor summary
        notes.append(Note(f"threads ({s.shares['probe_seconds']:.1f} s py-spy probe): idle "
                          f"{units.percent(s.shares['idle_share'])} of thread samples, GIL held in "
                          f"{units.percent(s.shares['gil_share'])} of active samples, "
                          f"{s.shares['active_threads']:.2f} threads active on average"))
    return Result(Status.PASSED, message, tuple(metrics), {}, data, tables, tuple(notes))


