"""The concurrency runner's two helpers: GIL sampling with py-spy, and the summary of the trials.

GIL wait (ratio): during a thread trial py-spy samples the harness twice at once, ``--gil`` (only the thread
holding the GIL is recorded) and ``--idle`` (every thread, every tick). Counting only the worker threads'
stacks, ``1 - gil_samples / all_samples`` is the share of the workers' time spent without the GIL: waiting
for it, or blocked in a call that released it (I/O, sleep). With one worker it is close to 0 for CPU-bound
code; with N CPU-bound workers under the GIL it approaches 1 - 1/N.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from perflab.core import units
from perflab.core.model import (
    Cell,
    Level,
    Metric,
    Note,
    Profile,
    Quantity,
    Result,
    Status,
    SummaryTable,
    labels,
)
from perflab.runners.concurrency.scaling import combine
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.process import Child

WORKER_FRAME = "_thread_loop"  # the harness's worker-thread function: how its stacks are told apart
SAMPLE_RATE = 100  # py-spy samples per second
MIN_SAMPLES = 10  # fewer worker samples than this and the GIL figure is not reported


class GilSampler:
    """Two py-spy recorders (``--gil`` and ``--idle``) attached to the harness for one thread trial.

    ``pyspy`` is the py-spy executable's path; None turns sampling off.
    """

    def __init__(self, ctx: RunContext, pyspy: str | None) -> None:
        self.ctx = ctx
        self.pyspy = pyspy
        self.enabled = pyspy is not None
        self.children: list[Child] = []
        self.files: dict[str, Path] = {}
        self.problem: str | None = None

    async def start(self, pid: int, level: int) -> None:
        if not self.enabled:
            return
        await self.stop()
        folder = self.ctx.artifacts_dir / "gil"
        folder.mkdir(parents=True, exist_ok=True)
        for mode, flag in (("gil", "--gil"), ("all", "--idle")):
            out = folder / f"threads-{level}-{mode}.txt"
            out.unlink(missing_ok=True)
            argv = [str(self.pyspy), "record", "--pid", str(pid), "--format", "raw", "--nonblocking", "--threads",
                    "--rate", str(SAMPLE_RATE), "--output", str(out), flag]
            try:
                child = await self.ctx.spawn(argv, source=f"py-spy-{mode}", side_channel=False, monitor=False,
                                             role="tool")
            except Exception as e:  # py-spy missing or not permitted: measure without it
                self.problem = str(e)
                self.enabled = False
                return
            self.children.append(child)
            self.files[mode] = out

    async def stop(self) -> float | None:
        """Stop both recorders (SIGINT makes py-spy write its file) and return the GIL wait ratio."""
        if not self.children:
            return None
        children, self.children = self.children, []
        for child in children:
            with contextlib.suppress(Exception):
                await child.stop(interrupt_grace=3.0, term_grace=1.0)
        files, self.files = self.files, {}
        gil_n = _worker_samples(files.get("gil"))
        all_n = _worker_samples(files.get("all"))
        if all_n < MIN_SAMPLES:
            tails = [x for c in children for x in c.stderr_tail if "rror" in x or "ermission" in x]
            self.problem = tails[-1].strip() if tails else f"py-spy collected only {all_n} worker samples"
            return None
        return max(0.0, min(1.0, 1.0 - gil_n / all_n))


def _worker_samples(path: Path | None) -> int:
    """Worker-thread samples in a py-spy raw (collapsed stacks) file: ``frames... count`` per line."""
    if path is None or not path.exists():
        return 0
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if WORKER_FRAME not in line:
            continue
        head, _, count = line.rpartition(" ")
        if head and count.isdigit():
            total += int(count)
    return total


# ------------------------------------------------------------------ summary


def saturation(trials: list[dict[str, Any]], gain: float) -> dict[str, Any]:
    """The level where throughput stops improving: no higher level beats it by more than ``gain``."""
    best = trials[0]
    for tr in trials[1:]:
        if tr["throughput"] > best["throughput"] * (1 + gain):
            best = tr
    return best


def summarize(profile: Profile, trials: list[dict[str, Any]], hello: dict[str, Any], skipped: list[str],
              gain: float) -> Result:
    metrics: list[Metric] = []
    raw: dict[str, tuple[tuple[float, ...], ...]] = {}
    rows: list[tuple[Cell, ...]] = []
    notes: list[Note] = []
    failures: list[str] = []
    sat_levels: dict[str, int] = {}
    kinds = list(dict.fromkeys(tr["worker"] for tr in trials))
    combined: list[dict[str, Any]] = []
    for kind in kinds:
        # the base level ran several times, interleaved with the others (scaling.schedule): one row from them
        ts, efficiency_notes = combine(kind, [tr for tr in trials if tr["worker"] == kind])
        combined += ts
        notes += efficiency_notes
        for tr in ts:
            lb = labels(kind=kind, level=tr["level"])
            speedup, eff = tr["speedup"], tr["efficiency"]
            metrics.append(Metric("throughput", tr["throughput"], "/s", lb))
            metrics.append(Metric("efficiency", eff, "ratio", lb))
            for q in ("p50", "p95", "p99"):
                if q in tr:
                    metrics.append(Metric(q, tr[q], "s", lb))
            if tr.get("latencies"):
                raw[Metric("p50", 0, "s", lb).key()] = (tuple(tr["latencies"]),)
            if tr.get("gil_wait") is not None:
                metrics.append(Metric("gil_wait", tr["gil_wait"], "ratio", lb))
            problem = tr.get("problem")
            if problem:
                failures.append(f"thread-safety check failed with {kind} at level {tr['level']}: {problem}")
            if tr.get("errors"):
                failures.append(f"{tr['errors']:,} of {tr['calls']:,} calls raised with {kind} at level "
                                f"{tr['level']}: {tr['first_error']}")
                problem = problem or "raised"
            check = "FAILED" if problem else ("ok" if tr.get("check") != "none" else "-")
            rows.append((kind, int(tr["level"]), int(tr["calls"]), Quantity(tr["throughput"], "/s"),
                         Quantity(speedup, "ratio"), Quantity(eff, "%"),
                         *(Quantity(tr[q], "s") if tr.get(q) is not None else None for q in ("p50", "p95", "p99")),
                         Quantity(tr["gil_wait"], "%") if tr.get("gil_wait") is not None else None, check))
        best = saturation(ts, gain)
        sat_levels[kind] = best["level"]
        metrics.append(Metric("saturation_level", best["level"], "count", labels(kind=kind)))
        if len(ts) > 1:
            if best is ts[-1]:
                notes.append(Note(f"{kind}: throughput still improving at the highest level measured "
                                  f"({best['level']})."))
            else:
                top = ts[-1]
                notes.append(Note(f"{kind}: throughput stops improving at level {best['level']} "
                                  f"({units.rate(best['throughput'])}; level {top['level']} gives "
                                  f"{units.ratio(top['throughput'] / best['throughput'])} of that)."))
    metrics.append(Metric("check_failures", len(failures), "count"))
    if any(tr.get("blind_check") for tr in combined):
        notes.append(Note("the callable returns None, so comparing its results with a serial run can only catch "
                          "exceptions: name target.invariant (and target.setup) to check its shared state.",
                          Level.WARNING, "concurrency.blind_check"))
    notes.extend(Note(f, Level.ERROR, "concurrency.failed") for f in failures)
    notes.extend(Note(s, Level.WARNING, "concurrency.skipped") for s in skipped)
    notes.append(Note(_interpreter_note(hello)))
    title = f"{profile.name}: scaling of {profile.target.value}"
    tables = (SummaryTable(title, ("workers", "level", "calls", "throughput", "speedup", "efficiency", "p50",
                                   "p95", "p99", "GIL wait", "check"), tuple(rows)),)
    data = {"trials": combined, "interpreter": hello, "saturation": sat_levels, "failures": failures}
    status = Status.FAILED if failures else Status.PASSED
    return Result(status, failures[0] if failures else "", tuple(metrics), raw, data, tables, tuple(notes))


def _interpreter_note(hello: dict[str, Any]) -> str:
    if not hello:
        return "interpreter: unknown (the harness did not report)"
    name = f"{hello.get('implementation', 'python')} {hello.get('python', '')}".strip()
    if hello.get("free_threaded"):
        state = "GIL enabled at run time" if hello.get("gil_enabled") else "GIL disabled"
        return f"interpreter: {name}, free-threaded build ({state})."
    return (f"interpreter: {name} with the GIL: threads interleave Python code but never run it in parallel; "
            "'GIL wait' is the share of worker-thread time without the GIL (py-spy --gil vs all samples).")
