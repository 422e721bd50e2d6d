"""From the home screen, keyboard only, at 80x24 and at 120x40: help, two real runs started from the command palette,
results, the comparison of the two (inconclusive: one process each, nothing can be judged), and a replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.command import CommandPalette

from perflab.app import PerflabApp
from perflab.core.aggregate import RunState
from perflab.core.model import Status
from perflab.lab import session as lab
from perflab.screens.help import HelpScreen
from perflab.screens.home import HomeScreen
from perflab.screens.results import ResultsScreen
from perflab.screens.run import RunScreen
from tests.tui.test_help_palette import wait_for


@pytest.mark.slow
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_keyboard_tour(lab_dir: Path, size: tuple[int, int]):
    root = lab_dir / "store"

    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), root, workdir=lab_dir)
        async with app.run_test(size=size) as pilot:

            async def palette(text: str) -> None:
                await pilot.press("ctrl+p", *text)
                await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
                await pilot.pause(0.4)  # the palette gathers hits for 0.25 s
                await pilot.press("enter")
                await pilot.pause(0.1)

            home = app.screen
            assert isinstance(home, HomeScreen)
            await wait_for(pilot, lambda: home.loaded, 10)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            for n in (1, 2):
                await palette("run profile mini")
                run = app.screen
                assert isinstance(run, RunScreen) and run.feed.title == "mini"
                await wait_for(pilot, lambda r=run: r.outcome is not None or r.error)  # type: ignore[misc]
                assert run.outcome.result.status == Status.PASSED, run.error
                await pilot.press("r")
                assert isinstance(app.screen, ResultsScreen)
                await pilot.press("escape", "escape")
                assert app.screen is home
                assert len(lab.list_sessions(root)) == n
            await palette("compare the last two sessions of mini")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), 20)
            assert app.screen.verdict == "inconclusive"  # one process per run: nothing could be judged
            await pilot.press("escape")
            newest = lab.list_sessions(root)[0].id
            await palette(f"replay session {newest}")
            replay = app.screen
            assert isinstance(replay, RunScreen) and replay.feed.is_replay
            await wait_for(pilot, lambda: replay.snap is not None, 10)
            await pilot.press("end")
            await wait_for(pilot, lambda: replay.snap.state == RunState.FINISHED, 10)
            assert replay.snap.status == Status.PASSED
            await pilot.press("escape")
            assert app.screen is home

    asyncio.run(scenario())
