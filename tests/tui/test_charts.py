"""Every test type's main view renders from a fake snapshot (and degrades to a message without data)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from perflab.app import PerflabApp
from perflab.core import testtypes
from perflab.core.model import Sample, Table, labels
from perflab.widgets.chart import MainChart
from tests.tui.fakes import FakeFeed, bench_events, snapshot_of
from tests.tui.test_app import wait_for


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
                await pilot.pause()
                chart = screen.query_one(MainChart)
                if test_type in ("benchmark", "cpu"):
                    await pilot.pause(0.3)
                    shown = chart._view.content
                    assert chart.last_plot is None, test_type
                    if test_type == "benchmark":
                        assert "round times" in str(shown)
                    else:
                        assert "top functions" in shown.title
                else:
                    await wait_for(pilot, lambda c=chart: c.last_plot is not None)
                    shown = chart._view.content  # the plot, or the plot over a table (load: its endpoints)
                    assert shown is chart.last_plot or chart.last_plot in getattr(shown, "renderables", ())
                    assert "no chart data" not in chart.last_plot.plain, test_type
                    assert "s" in chart.last_plot.plain  # the x axis label: a real plot was drawn
                await pilot.press("escape")

    asyncio.run(scenario())


def test_a_type_without_data_says_so(tmp_path: Path):
    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.start_feed(FakeFeed([snapshot_of([], 0.0)], test_type="query", hold=True))
            await pilot.pause()
            chart = screen.query_one(MainChart)
            await wait_for(pilot, lambda: chart.last_plot is not None)
            assert "query: no chart data yet" in chart.last_plot.plain

    asyncio.run(scenario())
