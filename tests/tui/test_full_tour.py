"""The whole app from the home screen, keyboard only, at 80x24 and at 120x40, with real tools: help, the palette,
a new run of a callable with an input generator, a memory run whose chart draws the heap, a load run against the
demo server with its live endpoint table, stopped (status "stopping", then partial results with no failed request),
the sessions screen, a comparison and the replay of the stopped run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.command import CommandPalette

from perflab.app import PerflabApp
from perflab.core.aggregate import RunState
from perflab.core.model import Status
from perflab.lab import session as lab
from perflab.screens.adhoc import AdhocScreen
from perflab.screens.help import HelpScreen
from perflab.screens.home import HomeScreen
from perflab.screens.results import ResultsScreen
from perflab.screens.run import RunScreen
from perflab.screens.sessions import SessionsScreen
from perflab.widgets.chart import MainChart
from perflab.widgets.panels import ProcessPanel, StatusLine, measured_role
from tests.tui.test_help_palette import wait_for
from tests.tui.test_new_run_form import focus

USERCODE = """
import time

_keep = []

def make_list(n):
    return list(range(n, 0, -1))

def work(xs):
    return sorted(xs)

def grow():
    _keep.append(bytearray(100_000))
    if len(_keep) > 80:
        del _keep[:40]
    time.sleep(0.004)
"""

MEM = """name = "mem"
description = "the heap of a callable that grows and lets go"
timeout = "1m"

[target]
callable = "usercode:grow"

[test]
type = "memory"
duration = "2s"
"""

API = """name = "api"
description = "the demo server under 5 users, stopped by the tour"
timeout = "2m"
thresholds = ["p95 < 500ms", "error_rate < 1%"]

[serve]
command = "demo"
args = ["--slow-delay", "0.02", "--cpu-ms", "1", "--fail-rate", "0"]

[target]
endpoints = [{ method = "GET", path = "/fast", weight = 3 }, { method = "GET", path = "/slow", weight = 1 }]

[test]
type = "load"
users = 5
duration = "60s"
"""


def screen_text(app: PerflabApp) -> str:
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


@pytest.mark.slow
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_full_keyboard_tour_with_stop_and_partial_results(lab_dir: Path, size: tuple[int, int]) -> None:
    (lab_dir / "usercode.py").write_text(USERCODE, encoding="utf-8")
    (lab_dir / "profiles" / "mem.toml").write_text(MEM, encoding="utf-8")
    (lab_dir / "profiles" / "api.toml").write_text(API, encoding="utf-8")
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

            async def finished(run: RunScreen, timeout: float = 90) -> None:
                await wait_for(pilot, lambda: run.outcome is not None or run.error != "", timeout)
                assert run.error == "", run.error

            async def home_again() -> None:
                for _ in range(4):
                    if isinstance(app.screen, HomeScreen):
                        return
                    await pilot.press("escape")
                assert isinstance(app.screen, HomeScreen)

            home = app.screen
            assert isinstance(home, HomeScreen)
            await wait_for(pilot, lambda: home.loaded, 10)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")

            # a new run of a callable with an input generator (both completed from the working folder's names), run
            # twice: two sessions of one profile to compare
            await palette("new run")
            form = app.screen
            assert isinstance(form, AdhocScreen)
            await wait_for(pilot, lambda: form.shown_type == "benchmark" and bool(form.names))
            assert app.focused is not None and app.focused.id == "value"
            await pilot.press(*"usercode:wo", "right")
            for key, text in (("opt-input", "usercode:ma"), ("param-n", "100"), ("param-processes", "1"),
                              ("param-max_time", "0.05s")):
                await focus(pilot, app, key)
                await pilot.press(*text)
                if key == "opt-input":
                    await pilot.press("right")
            await pilot.pause(0.1)
            assert form.profile is not None, str(form.query_one("#problems").content)
            assert form.profile.target.options["input"] == "usercode:make_list"
            for _ in range(2):
                await pilot.press("ctrl+r")
                run = app.screen
                assert isinstance(run, RunScreen)
                await finished(run)
                assert run.outcome.result.status == Status.PASSED, run.outcome.result.message
                await pilot.press("escape")
                assert app.screen is form
            await home_again()

            # a memory run: the chart draws memray's heap over time (no live mode)
            await palette("run profile mem")
            run = app.screen
            assert isinstance(run, RunScreen) and run.feed.title == "mem"
            await finished(run)
            assert run.outcome.result.status == Status.PASSED, run.outcome.result.message
            heap = run.snap.find("mem.heap")
            assert heap and len(heap[0].points) >= 10
            chart = run.query_one(MainChart)
            await wait_for(pilot, lambda: chart.shown_t == run.snap.t, 10)
            assert chart.last_plot is not None and "heap over time" in chart.last_plot.plain
            await home_again()

            # a load run: the live endpoint table and the served process, then stopped
            await palette("run profile api")
            run = app.screen
            assert isinstance(run, RunScreen) and run.feed.title == "api"
            await wait_for(pilot, lambda: run.snap is not None and len(run.snap.find("load.rps")) >= 3, 60)
            await wait_for(pilot, lambda: "/fast" in screen_text(app) and "req/s" in screen_text(app), 10)
            assert measured_role(run.snap) == "server" and "RSS" in str(run.query_one(ProcessPanel).render())
            await pilot.pause(1.0)
            await pilot.press("x")
            await pilot.pause(0.05)
            assert "stopping" in run.query_one(StatusLine).render_snapshot(run.snap).plain
            await finished(run, 60)
            result = run.outcome.result
            assert result.status == Status.INTERRUPTED and result.data["partial"] is True
            assert result.data["failures"] == 0 and result.data["requests"] > 0
            await wait_for(pilot, lambda: "INTERRUPTED at" in screen_text(app), 10)
            await pilot.press("r")
            assert isinstance(app.screen, ResultsScreen)
            await pilot.pause(0.2)
            shown = screen_text(app)
            assert "INTERRUPTED" in shown and "partial" in shown.lower(), shown
            await home_again()
            stopped = run.outcome.session_id

            # the sessions screen lists the runs; the two new runs compared
            await pilot.press("s")
            sessions = app.screen
            assert isinstance(sessions, SessionsScreen)
            await wait_for(pilot, lambda: str(stopped)[-6:] in screen_text(app), 10)
            await pilot.press("escape")
            assert len(lab.list_sessions(root, profile="adhoc")) == 2
            await palette("compare the last two sessions of adhoc")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), 20)
            assert app.screen.verdict == "inconclusive"  # one process per run: nothing could be judged
            await pilot.press("escape")

            # the stopped run replayed: it ends as it ended, interrupted
            await palette(f"replay session {stopped}")
            replay = app.screen
            assert isinstance(replay, RunScreen) and replay.feed.is_replay
            await wait_for(pilot, lambda: replay.snap is not None, 10)
            await pilot.press("end")
            await wait_for(pilot, lambda: replay.snap.state == RunState.FINISHED, 10)
            assert replay.snap.status == Status.INTERRUPTED and "partial" in replay.snap.message
            await home_again()

    asyncio.run(scenario())
