"""A fake event source for the UI: fixed events folded by the real aggregator, no clock, no subprocess."""

from __future__ import annotations

import asyncio
import math
from types import SimpleNamespace

from perflab.core.aggregate import Aggregator, Snapshot
from perflab.core.model import (
    Artifact,
    Finished,
    Level,
    Log,
    Note,
    Notice,
    Phase,
    Quantity,
    Result,
    Sample,
    Status,
    SummaryTable,
    labels,
)

THRESHOLDS = ("median < 5ms", "peak_rss < 50MB")


def bench_events(seconds: float = 20.0, finished: bool = True) -> list:
    """A deterministic benchmark-like run: process samples at 10 Hz, medians, logs, phases."""
    ev: list = [Phase(0.0, "start", "benchmark: callable: perflab.demo.sorting:counting_sort", 0.0)]
    target = labels(role="target")
    for i in range(int(seconds * 10)):
        t = i / 10
        ev.append(Sample(t, "proc.cpu", 0.5 + 0.4 * math.sin(i / 7), target))
        ev.append(Sample(t, "proc.rss", 30e6 + 2e5 * i, target))
        ev.append(Sample(t, "proc.threads", 1 + (i // 50), target))
        ev.append(Sample(t, "proc.fds", 3 + (i % 4), target))
        if i % 40 == 20:
            n = (i // 40) + 1
            for name, med in (("counting_sort", 0.004), ("sorted", 0.0021)):
                lb = labels(benchmark=f"{name}[n={n * 100}]", group=f"n={n * 100}", process=1)
                for k in range(5):
                    ev.append(Sample(t, "bench.round", med * n * (0.8 + 0.2 * k * k), lb))
                ev.append(Sample(t, "bench.median", med * n, lb))
            ev.append(Phase(t, "bench", f"process 1/1: size {n} done", min(1.0, n / 5)))
            ev.append(Log(t, f"PASSED test_perflab[size {n}]", "stdout", "pytest-1"))
    ev.append(Log(seconds - 1, "warning: something on stderr", "stderr", "pytest-1"))
    ev.append(Notice(seconds - 0.5, Level.WARNING, "the machine is busy", "machine.busy"))
    ev.append(Artifact(seconds - 0.4, "pytest-benchmark-json", "/nonexistent/pytest-benchmark-1.json"))
    if finished:
        ev.append(Finished(seconds, Status.PASSED, ""))
    return ev


def snapshot_of(events: list, at: float | None = None) -> Snapshot:
    agg = Aggregator(THRESHOLDS)
    for e in events:
        agg.handle(e)
    return agg.snapshot(at)


RESULT = Result(
    Status.FAILED, "regression: 1 slower",
    tables=(SummaryTable("demo: benchmarks (1 processes)", ("benchmark", "median", "rounds"),
                         (("counting_sort[n=100]", Quantity(0.004, "s"), 9),
                          ("sorted[n=100]", Quantity(2.1e-6, "s"), 146))),
            SummaryTable("session x vs baseline demo", ("metric", "change", "95% CI", "verdict"),
                         (("median counting_sort", "+12.0 %", "+8.1 .. +15.2 %", "slower"),
                          ("median sorted", "-0.4 %", "-3.0 .. +2.2 %", "same")))),
    notes=(Note("regression gate failed: vs baseline demo: 1 slower, 1 same", Level.ERROR, "baseline.slower"),
           Note("bottleneck (target): cpu-bound: x", Level.INFO, "bottleneck")),
    data={"bottleneck": {"target": {"label": "cpu-bound", "evidence": {},
                                    "text": "cpu-bound: cpu 0.98 cores over 6.0 s, I/O 0 B/s"}}},
)


class FakeFeed:
    """Posts the given snapshots in order (no clock involved), then ends with a fake outcome."""

    is_replay = False

    def __init__(self, snapshots: list[Snapshot], *, title: str = "demo", test_type: str = "benchmark",
                 hold: bool = False) -> None:
        self.snapshots = snapshots
        self.title = title
        self.test_type = test_type
        self.hold = hold
        self.stopped = asyncio.Event()

    async def drive(self, post):  # type: ignore[no-untyped-def]
        for snap in self.snapshots:
            post(snap)
            await asyncio.sleep(0)
        if self.hold:
            await self.stopped.wait()
        return SimpleNamespace(result=RESULT, session_id="20260101-000000-abcdef", duration=20.0)

    def stop(self) -> None:
        self.stopped.set()
