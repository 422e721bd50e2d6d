"""The run screen's work is bounded by its frame rate, not by how many snapshots arrive, and a panel whose text
did not change is not painted again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from perflab.app import PerflabApp
from perflab.core.model import Log
from perflab.screens import run
from perflab.widgets.panels import LogPanel, StatusLine
from tests.tui.fakes import FakeFeed, bench_events, snapshot_of
from tests.tui.test_app import wait_for


def test_a_burst_of_snapshots_is_shown_in_a_few_frames_ending_with_the_newest(tmp_path: Path):
    events = bench_events(6.0, finished=False)
    snaps = [snapshot_of(events, i / 10) for i in range(1, 61)]

    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            start = time.monotonic()
            screen = app.start_feed(FakeFeed(snaps, hold=True))
            applied: list[float] = []
            apply = screen._apply

            def counting(snap):  # type: ignore[no-untyped-def]
                applied.append(snap.t)
                apply(snap)

            screen._apply = counting  # type: ignore[method-assign]
            await wait_for(pilot, lambda: screen._mounted and screen.query_one(StatusLine).snapshot is snaps[-1])
            elapsed = time.monotonic() - start
            assert applied[-1] == pytest.approx(6.0)  # the newest snapshot is the one on screen
            assert len(applied) <= 2 + elapsed / run.FRAME < len(snaps)  # one per frame, not one per snapshot
            await pilot.press("x")

    asyncio.run(scenario())


def test_a_panel_is_painted_again_only_when_its_text_changes(tmp_path: Path):
    events = bench_events(6.0, finished=False)
    first, same_logs = snapshot_of(events, 5.0), snapshot_of(events, 5.5)
    new_line = snapshot_of([*events, Log(5.9, "a new line", "stdout", "pytest-1")], 5.9)

    async def scenario() -> None:
        app = PerflabApp(tmp_path, tmp_path / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.start_feed(FakeFeed([first], hold=True))
            await wait_for(pilot, lambda: screen._mounted and screen.query_one(LogPanel).snapshot is first)
            panel = screen.query_one(LogPanel)
            await pilot.pause()
            renders: list[object] = []
            render = panel.render

            def counting():  # type: ignore[no-untyped-def]
                renders.append(1)
                return render()

            panel.render = counting  # type: ignore[method-assign]
            panel.snapshot = same_logs  # other samples, the same log lines
            await pilot.pause()
            assert renders == []
            panel.snapshot = new_line
            await wait_for(pilot, lambda: renders != [])
            assert "a new line" in str(panel.render())
            await pilot.press("x")

    asyncio.run(scenario())
