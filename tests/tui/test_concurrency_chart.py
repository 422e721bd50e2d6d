"""The concurrency chart puts each quantity on its own axis: throughput left, latency right, a line per kind."""

from __future__ import annotations

from perflab.core.model import Sample, labels
from perflab.widgets.chart import PlotBuilder, concurrency_lines
from tests.tui.fakes import snapshot_of


def _events() -> list:
    ev = []
    for level, start in ((1, 0.0), (2, 5.0)):
        for kind in ("threads", "processes"):
            lb = labels(kind=kind, level=level)
            for i in range(10):
                t = start + i / 2
                ev.append(Sample(t, "conc.throughput", 1000.0 * level, lb))
                ev.append(Sample(t, "conc.latency.p95", 0.001 * level, lb))
                ev.append(Sample(t, "conc.calls", 500.0 * i, lb))  # a count: not on either axis
    return sorted(ev, key=lambda e: e.t)


def test_one_axis_per_quantity_and_levels_joined_per_kind():
    lines = concurrency_lines(snapshot_of(_events(), 10.0))
    sides = {label: side for _, _, label, side in lines}
    assert sides == {"threads calls/s": "left", "processes calls/s": "left",
                     "threads p95 ms": "right", "processes p95 ms": "right"}
    by_label = {label: (x, y) for x, y, label, _ in lines}
    x, y = by_label["threads calls/s"]
    assert x == sorted(x) and x[0] < 5.0 <= x[-1]  # both levels, in time order, one line
    assert {round(v) for v in y} == {1000, 2000}
    assert max(by_label["threads p95 ms"][1]) == 2.0  # milliseconds on the right axis


def test_the_concurrency_view_draws_both_axes():
    text = PlotBuilder("concurrency", 80, 14).build(snapshot_of(_events(), 10.0)).plain
    assert "calls/s (left)" in text and "threads p95 ms" in text
