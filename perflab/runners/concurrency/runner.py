"""Concurrency runner: does a callable scale with threads, processes or asyncio tasks, and is it still right?

The measuring happens in a child (runners/agents/concurrency_harness.py, started through ``ctx.spawn`` with
the side channel), so a deadlocked or runaway target can always be killed and the engine's loop stays free.
For each worker kind and level the harness reports throughput (calls/s), latency percentiles (s) and a
correctness verdict (serial comparison or the profile's invariant). The lowest level runs before, between and
after the others (scaling.schedule), so the efficiencies carry the drift of the base rate. A watchdog here turns silence into a
deadlock suspicion naming the level and worker kind; before killing the harness it takes a ``py-spy dump`` so
the report shows where the threads were stuck. During thread trials py-spy samples the harness twice, once
with ``--gil``, to estimate how much of the worker threads' time is spent without the GIL.

Events: ``conc.throughput`` (/s), ``conc.latency.p50|p95|p99`` (s), ``conc.efficiency`` (ratio),
``conc.gil_wait`` (ratio), all labelled kind and level; ``conc.calls`` (count, progress of the running trial).
Metrics: throughput, efficiency, p50, p95, p99, gil_wait {kind, level}; saturation_level {kind};
check_failures (count).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from perflab.core.model import Level, Metric, Note, PerflabError, Profile, Result, Status, ToolError, labels
from perflab.runners.agents import wire
from perflab.runners.concurrency.report import WORKER_FRAME, GilSampler, summarize
from perflab.runners.concurrency.scaling import schedule
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.child import child_env
from perflab.runners.framework.process import Child
from perflab.runners.framework.tools import find_tool

AGENT = "perflab.runners.agents.concurrency_harness"
START_TIMEOUT = 60.0  # seconds for the harness to import the target and say hello
PREPARE_SLACK = 30.0  # seconds beyond hang_timeout for a level's workers to start (spawned processes import)


class Stage(StrEnum):
    """Where the harness is, as far as the watchdog knows (a deadlock report says which)."""

    START = "start"
    PREPARE = "prepare"
    RUN = "run"
    CHECK = "check"
    BETWEEN = "between"

    @property
    def doing(self) -> str:
        return {"start": "starting", "prepare": "starting its workers", "run": "running",
                "check": "checking the outcome", "between": "between levels"}[self.value]


@dataclass(frozen=True)
class Exited:
    """The harness process ended with this exit code (queued after its last message)."""

    code: int


class ConcurrencyRunner:
    test_type = "concurrency"

    async def run(self, profile: Profile, ctx: RunContext) -> Result:
        p = profile.test.params
        t = profile.target
        check = p["check"]
        if check == "auto":
            check = "invariant" if t.options.get("invariant") else "serial"
        if check == "invariant" and not t.options.get("invariant"):
            raise PerflabError('test.check = "invariant" needs target.invariant = "module:function"')
        cfg = {
            "callable": t.value, "args": list(t.options.get("args") or []), "input": t.options.get("input"),
            "setup": t.options.get("setup"), "invariant": t.options.get("invariant"), "check": check,
            # the lowest level runs before, between and after the others: its drift bounds each efficiency
            "levels": schedule(p["levels"]), "workers": list(dict.fromkeys(p["workers"])),
            "duration": float(p["duration"]), "max_calls": int(p["max_calls"]),
        }
        cfg_path = ctx.artifacts_dir / "concurrency.json"
        cfg_path.parent.mkdir(parents=True, exist_ok=True)
        cfg_path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        workdir = Path(t.options.get("cwd") or ctx.workdir)
        env = child_env(workdir, t.options.get("env") or {})
        hang = float(p["hang_timeout"])
        total = len(cfg["levels"]) * len(cfg["workers"])

        queue: asyncio.Queue[wire.Message | Exited] = asyncio.Queue()

        def on_record(rec: dict[str, Any]) -> None:
            msg = wire.parse(rec, wire.CONCURRENCY)
            if msg is not None:
                queue.put_nowait(msg)

        child = await ctx.spawn([sys.executable, "-m", AGENT, str(cfg_path)], source="harness", cwd=workdir,
                                env=env, on_record=on_record)

        async def watch_exit() -> None:
            code = await child.wait()
            queue.put_nowait(Exited(code))

        exit_task = asyncio.create_task(watch_exit())
        pyspy = find_tool("py-spy")
        gil = GilSampler(ctx, pyspy if p["gil"] else None)
        trials: list[dict[str, Any]] = []
        skipped: list[str] = []
        hello: wire.HarnessHello | None = None
        current: dict[str, Any] | None = None
        stage = Stage.START
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        hung: str | None = None
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    if current is None:
                        raise ToolError(f"the concurrency harness did not start within {START_TIMEOUT:g} s "
                                        f"(importing {t.value})") from None
                    hung = await self._deadlock(ctx, child, current, stage, hang, gil)
                    break
                if isinstance(msg, wire.HarnessHello):
                    hello = msg
                    if msg.free_threaded:
                        ctx.notice(f"free-threaded interpreter (GIL {'on' if msg.gil_enabled else 'off'})",
                                   code="concurrency.free_threaded")
                    deadline = loop.time() + PREPARE_SLACK + hang
                elif isinstance(msg, wire.TrialPrepare):
                    current, stage = {"worker": msg.worker, "level": msg.level, "calls": 0}, Stage.PREPARE
                    ctx.phase("level", f"{msg.worker} x {msg.level}: starting workers", len(trials) / total)
                    deadline = loop.time() + PREPARE_SLACK + hang
                elif isinstance(msg, wire.TrialStart):
                    stage = Stage.RUN
                    ctx.phase("level", f"{msg.worker} x {msg.level}: running", len(trials) / total)
                    deadline = loop.time() + cfg["duration"] + hang
                    if msg.worker == "threads" and (hello is None or hello.gil_enabled):
                        await gil.start(int(msg.pid), msg.level)
                elif isinstance(msg, wire.TrialProgress) and current is not None:
                    if int(msg.calls) > current["calls"]:  # calls still complete: slow is not stuck
                        deadline = max(deadline, loop.time() + hang)
                    current["calls"] = int(msg.calls)
                    ctx.sample("conc.calls", msg.calls, kind=current["worker"], level=current["level"])
                elif isinstance(msg, wire.TrialChecking) and current is not None:
                    stage = Stage.CHECK
                    current["calls"] = int(msg.calls)
                    # a serial re-run of the same calls takes at most ~level times the trial's duration
                    deadline = loop.time() + hang + cfg["duration"] * max(1, msg.level)
                    gil_wait = await gil.stop()
                    if gil_wait is not None:
                        current["gil_wait"] = gil_wait
                elif isinstance(msg, wire.TrialResult):
                    trial = {**msg.fields(), "check": check}  # the report and the stored result keep dicts
                    if current is not None and "gil_wait" in current:
                        trial["gil_wait"] = current["gil_wait"]
                    elif msg.worker == "threads":
                        trial["gil_wait"] = await gil.stop()
                    trials.append(trial)
                    self._emit_trial(ctx, trial)
                    current, stage = None, Stage.BETWEEN
                    deadline = loop.time() + PREPARE_SLACK + hang
                elif isinstance(msg, wire.TrialSkipped):
                    skipped.append(f"{msg.worker} skipped: {msg.reason}")
                    total -= len(cfg["levels"])
                    ctx.notice(skipped[-1], code="concurrency.skipped")
                elif isinstance(msg, wire.HarnessError):
                    await gil.stop()
                    where = f" ({msg.worker} x {msg.level})" if msg.worker else ""
                    if msg.traceback:
                        for line in str(msg.traceback).splitlines():
                            ctx.log(line, "stderr", "harness")
                    if msg.stage == "load":
                        raise PerflabError(f"cannot load the concurrency target: {msg.message}")
                    raise ToolError(f"the concurrency harness failed{where}: {msg.message}")
                elif isinstance(msg, Exited):
                    if msg.code != 0 and len(trials) < total:
                        tail = [x for x in child.stderr_tail if x.strip()]
                        raise ToolError(f"the concurrency harness exited ({msg.code}) before the end"
                                        + (f": {tail[-1].strip()}" if tail else ""))
                    break
        finally:
            await gil.stop()
            exit_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await exit_task
        if p["gil"] and "threads" in cfg["workers"]:
            if pyspy is None:
                skipped.append("GIL wait not measured: py-spy is not installed (pip install py-spy)")
            elif hello is not None and not hello.gil_enabled:
                skipped.append("GIL wait not measured: the GIL is off in this interpreter")
            elif gil.problem and not any(tr.get("gil_wait") is not None for tr in trials):
                skipped.append(f"GIL wait not measured: {gil.problem}")
        if not trials and hung is None:
            raise PerflabError("nothing was measured: " + "; ".join(skipped or ["no worker kind ran"]))
        result = summarize(profile, trials, hello.record() if hello is not None else {}, skipped,
                           float(p["saturation_gain"]))
        if hung is None:
            return result
        # keep the levels measured before the hang; the run itself is an error (exit 3)
        notes = (Note(hung, Level.ERROR, "concurrency.deadlock"), *result.notes)
        return Result(Status.ERROR, hung, result.metrics + (Metric("deadlocks", 1, "count"),), result.raw,
                      {**result.data, "deadlock": hung}, result.tables, notes)

    @staticmethod
    def _emit_trial(ctx: RunContext, rec: dict[str, Any]) -> None:
        lb = labels(kind=rec["worker"], level=rec["level"])
        ctx.sample("conc.throughput", rec["throughput"], lb)
        for q in ("p50", "p95", "p99"):
            if q in rec:
                ctx.sample(f"conc.latency.{q}", rec[q], lb)
        if rec.get("gil_wait") is not None:
            ctx.sample("conc.gil_wait", rec["gil_wait"], lb)
        if rec.get("problem"):
            ctx.notice(f"{rec['worker']} at level {rec['level']}: {rec['problem']}", code="concurrency.unsafe")

    @staticmethod
    async def _deadlock(ctx: RunContext, child: Any, current: dict[str, Any], stage: Stage, hang: float,
                        gil: GilSampler) -> str:
        await gil.stop()
        what = stage.doing
        msg = (f"deadlock suspected with {current['worker']} at level {current['level']}: no progress for "
               f"{hang:g} s while {what} ({current.get('calls', 0):,} calls completed); the harness was stopped")
        stuck = await _dump_stacks(ctx, child.pid)
        if stuck:
            msg += "; workers stuck in " + ", ".join(stuck[:3])
        ctx.notice(msg, code="concurrency.deadlock")
        await child.stop(interrupt_grace=0.5, term_grace=1.0)
        return msg


async def _dump_stacks(ctx: RunContext, pid: int) -> list[str]:
    """Record where every thread of the stuck harness is (py-spy dump), as log lines and an artifact.

    Returns the distinct top frames of the worker threads (``transfer (usercode.py:8)``).
    """
    pyspy = find_tool("py-spy")
    if pyspy is None:
        return []
    lines: list[str] = []

    def on_line(stream: str, line: str) -> None:
        if stream == "stdout":
            lines.append(line)
        ctx.log(line, stream, "py-spy-dump")

    dump = Child([pyspy, "dump", "--subprocesses", "--pid", str(pid)], cwd=ctx.workdir, name="py-spy-dump", on_line=on_line,
                 side_channel=False)
    await dump.start()
    ctx.children.append(dump)  # reaped by the engine whatever happens
    try:
        await dump.wait(timeout=10)
    except TimeoutError:
        return []
    if not lines:
        return []
    path = ctx.artifacts_dir / "deadlock-stacks.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ctx.artifact("py-spy-dump", path, "stacks of the harness threads when the deadlock was suspected")
    return stuck_frames(lines)


def stuck_frames(dump: list[str]) -> list[str]:
    """The distinct top frames of the threads running the harness's worker loop, from ``py-spy dump`` text."""
    tops: list[str] = []
    frames: list[str] = []

    def close() -> None:
        harness = [i for i, f in enumerate(frames) if f.startswith((WORKER_FRAME + " ", "_sync_call."))]
        if not harness or harness[0] == 0:
            return
        user = frames[harness[0] - 1]  # the target's own frame, just above the harness's call
        where = user if user == frames[0] else f"{user} -> {frames[0]}"
        if where not in tops:
            tops.append(where)

    for raw in dump:
        line = raw.strip()
        if raw.startswith(("Thread ", "Process ")):
            close()
            frames = []
        elif raw.startswith(" ") and line:
            frames.append(line)
    close()
    return tops
