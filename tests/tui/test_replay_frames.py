"""What a replay costs the screen: the chart redraws at most once per REPLAY_INTERVAL while playing and at once
after a seek, snapshots that arrive during a build cost one build, the chart area is not composed again for a
snapshot it does not draw, and a panel turns a changed snapshot into text once."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from perflab.app import PerflabApp
from perflab.core.model import Sample, labels
from perflab.core.replay import ReplayIndex
from perflab.lab.feeds import ReplayFeed
from perflab.widgets import chart as chart_module
from perflab.widgets.chart import REPLAY_INTERVAL, MainChart
from perflab.widgets.panels import ProcessPanel
from tests.tui.fakes import FakeFeed, bench_events, snapshot_of
from tests.tui.test_help_palette import wait_for

SIZE = (80, 24)
SECONDS = 120.0


def _upto(events: list, t: float):  # type: ignore[no-untyped-def]
    """The snapshot at ``t`` (snapshot_of folds every event it is given)."""
    return snapshot_of([e for e in events if e.t <= t], t)


def _load_events() -> list[Sample]:
    out = []
    for i in range(int(SECONDS * 10)):
        t = i / 10
        out.append(Sample(t, "proc.cpu", 0.5 + (i % 9) / 20, labels(role="server")))
        if i % 10 == 0:
            for e in range(12):
                out.append(Sample(t, "load.rps", 100.0 + (i + 7 * e) % 31, labels(endpoint=f"/e{e}")))
            out.append(Sample(t, "load.rps", 1200.0 + i % 17, labels(endpoint="all")))
    return out


def test_a_playing_replay_redraws_the_chart_at_most_once_per_interval_and_a_seek_at_once(tmp_path: Path):
    index = ReplayIndex.from_events(_load_events())

    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=SIZE) as pilot:
            screen = app.start_feed(ReplayFeed(index, "replay", "load"))
            await wait_for(pilot, lambda: screen.snap is not None and screen.is_mounted)
            chart = screen.query_one(MainChart)
            assert chart.min_interval == REPLAY_INTERVAL
            await wait_for(pilot, lambda: chart.shown_t is not None)
            draws: list[float] = []
            draw = chart._draw

            def counting(snap):  # type: ignore[no-untyped-def]
                draws.append(snap.t)
                draw(snap)

            chart._draw = counting  # type: ignore[method-assign]
            start, t0 = time.monotonic(), screen.snap.t
            await pilot.pause(2.5)
            elapsed = time.monotonic() - start
            assert screen.snap.t > t0 + 1.0  # it played
            assert 1 <= len(draws) <= 1 + elapsed / REPLAY_INTERVAL, draws  # not every frame: once per interval
            feed = screen.feed
            feed.player.pause()
            feed.seek(100.0)
            await wait_for(pilot, lambda: screen.snap.t == 100.0, 10)
            # a seek is drawn when its snapshot arrives (or when a build in progress ends), not after the interval
            assert draws[-1] == 100.0 or chart._building
            await wait_for(pilot, lambda: chart.shown_t == 100.0, 10)
            feed.stop()

    asyncio.run(scenario())


def test_snapshots_that_arrive_during_a_build_cost_one_more_build(tmp_path: Path, monkeypatch):
    snaps = [_upto(_load_events(), t) for t in (10.0, 30.0, 50.0, 70.0, 90.0, 110.0)]
    release = threading.Event()
    built: list[float] = []
    draw = chart_module.draw

    def slow(test_type, snap, width, height):  # type: ignore[no-untyped-def]
        release.wait(30)  # the first build holds until every other snapshot has arrived
        built.append(snap.t)
        return draw(test_type, snap, width, height)

    monkeypatch.setattr(chart_module, "draw", slow)

    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=SIZE) as pilot:
            screen = app.start_feed(FakeFeed([], test_type="load", hold=True))
            await wait_for(pilot, lambda: screen.is_mounted)
            chart = screen.query_one(MainChart)
            chart.snapshot = snaps[0]
            await wait_for(pilot, lambda: chart._building)
            for snap in snaps[1:]:  # seeks: each more than SEEK_JUMP away from the last
                chart.snapshot = snap
                await pilot.pause()
            release.set()
            await wait_for(pilot, lambda: chart.shown_t == 110.0, 10)
            await pilot.pause(0.3)
            assert built == [10.0, 110.0]  # the one in progress, then the newest; none in between
            screen.feed.stop()

    asyncio.run(scenario())


def test_a_snapshot_the_chart_does_not_draw_does_not_repaint_it(tmp_path: Path):
    events = bench_events(6.0, finished=False)
    first, later = _upto(events, 5.0), _upto(events, 5.5)

    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=SIZE) as pilot:
            screen = app.start_feed(FakeFeed([first], test_type="load", hold=True))
            await wait_for(pilot, lambda: screen._mounted and screen.query_one(MainChart).shown_t == 5.0)
            chart = screen.query_one(MainChart)
            chart.min_interval = 60.0  # the next snapshot is not drawn: it waits for the interval
            await pilot.pause(0.2)
            painted: list[object] = []
            render_lines = chart.render_lines

            def counting(crop):  # type: ignore[no-untyped-def]
                painted.append(crop)
                return render_lines(crop)

            chart.render_lines = counting  # type: ignore[method-assign]
            chart.snapshot = later
            await pilot.pause(0.2)
            assert painted == [] and chart.shown_t == 5.0
            screen.feed.stop()

    asyncio.run(scenario())


def test_a_panel_turns_a_changed_snapshot_into_text_once(tmp_path: Path):
    events = bench_events(6.0, finished=False)
    first, later = _upto(events, 3.0), _upto(events, 5.0)

    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=SIZE) as pilot:
            screen = app.start_feed(FakeFeed([first], hold=True))
            await wait_for(pilot, lambda: screen._mounted and screen.query_one(ProcessPanel).snapshot is first)
            panel = screen.query_one(ProcessPanel)
            await pilot.pause(0.2)
            made: list[float] = []
            render_snapshot = panel.render_snapshot

            def counting(snap):  # type: ignore[no-untyped-def]
                made.append(snap.t)
                return render_snapshot(snap)

            panel.render_snapshot = counting  # type: ignore[method-assign]
            panel.snapshot = later  # other process samples: the sparklines and values change
            await pilot.pause(0.2)
            assert made == [5.0]  # compared, then painted from the same text
            assert "RSS" in str(panel.render())
            screen.feed.stop()

    asyncio.run(scenario())
