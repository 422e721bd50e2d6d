"""A load run shows its endpoints live under the chart: requests/s, p50, p95, failures/s, busiest first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from perflab.app import PerflabApp
from perflab.core.model import Sample, labels
from perflab.widgets.chart import MainChart, endpoint_table
from tests.tui.fakes import FakeFeed, snapshot_of
from tests.tui.test_help_palette import wait_for

ENDPOINTS = {"/fast": (600.0, 0.002, 0.008, 0.0), "/slow": (20.0, 0.3, 0.45, 0.0), "/flaky": (100.0, 0.01, 0.02, 9.0),
             "/a/very/long/endpoint/path/that/does/not/fit/at/eighty/columns/at/all": (5.0, 0.1, 0.2, 0.0)}


def _events() -> list:
    ev = []
    for i in range(20):
        t = float(i)
        for ep, (rps, p50, p95, fail) in ENDPOINTS.items():
            lb = labels(endpoint=ep)
            ev += [Sample(t, "load.rps", rps, lb), Sample(t, "load.latency.p50", p50, lb),
                   Sample(t, "load.latency.p95", p95, lb), Sample(t, "load.failures", fail, lb)]
        all_ = labels(endpoint="all")
        ev += [Sample(t, "load.rps", 725.0, all_), Sample(t, "load.latency.p95", 0.3, all_),
               Sample(t, "load.latency.p50", 0.003, all_), Sample(t, "load.failures", 9.0, all_)]
    return ev


def _text(renderable, width: int) -> str:  # type: ignore[no-untyped-def]
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text()


def test_endpoint_table_busiest_first_with_the_total():
    text = _text(endpoint_table(snapshot_of(_events(), 20.0), 76, 3), 76)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert "req/s" in lines[0] and "p95" in lines[0] and "failures/s" in lines[0]
    assert lines[1].split()[0] == "/fast" and lines[2].split()[0] == "/flaky"  # by requests/s
    assert "1 more" in text and lines[-1].split()[0] == "all"
    assert "450 ms" in _text(endpoint_table(snapshot_of(_events(), 20.0), 76, 4), 76)  # /slow's p95, uncut


def test_the_load_run_screen_shows_the_endpoints(tmp_path: Path):
    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.start_feed(FakeFeed([snapshot_of(_events(), 20.0)], test_type="load", hold=True))
            await wait_for(pilot, lambda: screen.snap is not None and screen.is_mounted)
            chart = screen.query_one(MainChart)
            await wait_for(pilot, lambda: chart.last_plot is not None)
            await pilot.pause(0.1)
            shown = "\n".join(s.text for s in app.screen._compositor.render_strips())
            assert "/fast" in shown and "req/s" in shown and "failures/s" in shown, shown

    asyncio.run(scenario())


def test_the_process_panel_shows_the_served_process(tmp_path: Path):
    """A load run's target is served: its process tree is role=server (the generator's is role=generator)."""
    from perflab.widgets.panels import ProcessPanel

    ev = _events()
    for i in range(20):
        for role, cpu in (("generator", 0.9), ("server", 0.4)):
            lb = labels(role=role)
            ev += [Sample(float(i), "proc.cpu", cpu, lb), Sample(float(i), "proc.rss", 50e6, lb),
                   Sample(float(i), "proc.threads", 4, lb), Sample(float(i), "proc.fds", 12, lb)]

    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.start_feed(FakeFeed([snapshot_of(sorted(ev, key=lambda e: e.t), 20.0)], test_type="load",
                                             hold=True))
            await wait_for(pilot, lambda: screen.snap is not None and screen.is_mounted)
            await pilot.pause(0.1)
            panel = screen.query_one(ProcessPanel)
            assert panel.border_title == "process: server"
            text = panel.render().plain
            assert "40 %" in text and "-\n" not in text  # the server's CPU, not the generator's 90 %

    asyncio.run(scenario())
