"""Every test type's main view renders from a fake snapshot (and degrades to a message without data)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Static
from textual_plotext import PlotextPlot

from perflab.app import PerflabApp
from perflab.core import testtypes
from perflab.core.model import Sample, Table, labels
from perflab.widgets.chart import MainChart
from tests.tui.fakes import FakeFeed, bench_events, snapshot_of


def _events(test_type: str) -> list:
    ev = [e for e in bench_events(10.0, finished=False) if not isinstance(e, Sample)
          or e.series.startswith("proc.") or test_type == "benchmark"]
    for i in range(50):
        t = i / 5
        ev.append(Sample(t, "load.rps", 100 + i, labels(endpoint="all")))
        ev.append(Sample(t, "load.latency.p95", 0.02 + i / 1000, labels(endpoint="all")))
        ev.append(Sample(t, "mem.heap", 1e6 * i))
        if i % 10 == 0:
            ev.append(Sample(t, "stress.users", 10 * (i + 1)))
            ev.append(Sample(t, "stress.p95", 0.01 * (i + 1)))
    ev.append(Table(5.0, "top functions", ("function", "own %", "total %"),
                    (("work (busy.py:10)", 61.5, 80.0), ("helper (busy.py:20)", 20.0, 20.0))))
    return sorted(ev, key=lambda e: e.t)


def test_main_view_of_every_type(tmp_path: Path):
    """One app, one fake run per test type (cheaper than an app per type)."""
    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            for test_type in testtypes.TEST_TYPES:
                screen = app.start_feed(FakeFeed([snapshot_of(_events(test_type), 10.0)], test_type=test_type,
                                                 hold=True))
                await pilot.pause(0.3)
                chart = screen.query_one(MainChart)
                plot, text = chart.query_one(PlotextPlot), chart.query_one(Static)
                if test_type in ("benchmark", "cpu"):
                    assert text.display and not plot.display, test_type
                    shown = str(text.content) if test_type == "benchmark" else text.content.title
                    assert ("round times" in shown) if test_type == "benchmark" else "top functions" in shown
                else:
                    assert plot.display and not text.display, test_type
                    assert "no chart data" not in plot.plt.build(), test_type
                await pilot.press("escape")

    asyncio.run(scenario())


def test_a_type_without_data_says_so(tmp_path: Path):
    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.start_feed(FakeFeed([snapshot_of([], 0.0)], test_type="query", hold=True))
            await pilot.pause(0.3)
            assert "query: no chart data yet" in screen.query_one(PlotextPlot).plt.build()

    asyncio.run(scenario())
