"""A memory run without memray's live mode has no heap samples: the chart draws the target's RSS and says so."""

from __future__ import annotations

from perflab.core.model import Sample, labels
from perflab.widgets.chart import PlotBuilder
from tests.tui.fakes import bench_events, snapshot_of


def test_memory_chart_falls_back_to_rss():
    procs = [e for e in bench_events(10.0, finished=False) if isinstance(e, Sample) and e.series.startswith("proc.")]
    text = PlotBuilder("memory", 80, 14).build(snapshot_of(procs, 10.0)).plain
    assert "RSS of the target" in text and "no chart data" not in text


def test_memory_chart_prefers_the_heap():
    heap = [Sample(i / 2, "mem.heap", 1e6 * i, labels()) for i in range(20)]
    procs = [e for e in bench_events(10.0, finished=False) if isinstance(e, Sample) and e.series.startswith("proc.")]
    text = PlotBuilder("memory", 80, 14).build(snapshot_of(sorted(procs + heap, key=lambda e: e.t), 10.0)).plain
    assert "heap over time" in text
