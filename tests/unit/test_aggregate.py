"""core.aggregate: bounded memory, bucket ladder, tails, thresholds."""

from __future__ import annotations

import math

from perflab.core.aggregate import (
    BASE_WIDTH,
    LOG_TAIL,
    Aggregator,
    Check,
    RunState,
    bucket_width,
)
from perflab.core.model import Finished, Level, Log, Notice, Phase, Sample, Status, Table, labels


def test_bucket_width_ladder_doubles_and_fits():
    assert bucket_width(0.0) == BASE_WIDTH
    assert bucket_width(24.0, 240) == BASE_WIDTH
    w = bucket_width(3600.0, 240)
    assert 3600.0 / w <= 240 < 3600.0 / (w / 2)


def test_series_points_are_bucket_means_and_figures_are_exact():
    agg = Aggregator()
    for i in range(10):
        agg.handle(Sample(i * 0.05, "proc.cpu", float(i), labels(role="target")))
    snap = agg.snapshot()
    (s,) = snap.find("proc.cpu", role="target")
    assert s.count == 10 and s.last == 9.0 and s.min == 0.0 and s.max == 9.0
    assert math.isclose(s.mean, 4.5)
    # two samples per 0.1 s bucket: means 0.5, 2.5, ...
    assert [round(v, 6) for _, v in s.points] == [0.5, 2.5, 4.5, 6.5, 8.5]
    assert snap.latest("proc.cpu") == 9.0 and snap.latest("nope") is None


def test_memory_stays_bounded_over_a_long_run():
    agg = Aggregator(max_points=100)
    for i in range(36_000):  # one hour at 10 Hz
        agg.handle(Sample(i * 0.1, "x", 1.0))
    snap = agg.snapshot()
    (s,) = snap.find("x")
    assert len(s.points) <= 100
    assert s.count == 36_000
    assert all(math.isclose(v, 1.0) for _, v in s.points)


def test_logs_are_a_ring_and_tables_keep_the_latest():
    agg = Aggregator()
    for i in range(LOG_TAIL + 50):
        agg.handle(Log(i * 0.01, f"line {i}"))
    agg.handle(Table(1.0, "top", ("f",), (("a",),)))
    agg.handle(Table(2.0, "top", ("f",), (("b",),)))
    snap = agg.snapshot()
    assert len(snap.logs) == LOG_TAIL and snap.logs[-1].line == f"line {LOG_TAIL + 49}"
    assert snap.tables["top"].rows == (("b",),)


def test_state_phase_progress_and_finish():
    agg = Aggregator()
    assert agg.snapshot().state == RunState.WAITING
    agg.handle(Phase(0.0, "start", "benchmark", 0.0))
    agg.handle(Phase(1.0, "bench", "process 1/3", 0.4))
    agg.handle(Phase(1.5, "bench", "no progress known", None))
    snap = agg.snapshot(2.0)
    assert snap.state == RunState.RUNNING and snap.progress == 0.4 and snap.detail == "no progress known"
    assert snap.t == 2.0
    agg.handle(Finished(3.0, Status.FAILED, "gate"))
    snap = agg.snapshot()
    assert snap.state == RunState.FINISHED and snap.status == Status.FAILED and snap.message == "gate"


def test_thresholds_live_and_final():
    agg = Aggregator(["p95 < 200ms", "peak_rss < 1MB", "weird thing"])
    snap = agg.snapshot()
    assert [c.state for c in snap.thresholds] == [Check.PENDING] * 3
    agg.handle(Sample(0.1, "load.latency.p95", 0.150, labels(endpoint="all")))
    agg.handle(Sample(0.1, "proc.rss", 5e6, labels(role="target")))
    snap = agg.snapshot()
    assert snap.thresholds[0].state == Check.OK and math.isclose(snap.thresholds[0].value, 0.150)
    assert snap.thresholds[1].state == Check.BREACHED
    agg.handle(Sample(0.2, "load.latency.p95", 0.250, labels(endpoint="all")))
    assert agg.snapshot().thresholds[0].state == Check.BREACHED
    agg.handle(Notice(0.3, Level.ERROR, "threshold breached: weird thing", "threshold.breach"))
    assert agg.snapshot().thresholds[2].state == Check.BREACHED
