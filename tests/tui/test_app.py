"""Pilot tests: the real benchmark demo end to end, stopping a run, sessions, replay, the ad-hoc form."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil
import pytest

from perflab.app import PerflabApp
from perflab.core.aggregate import RunState
from perflab.core.model import Status
from perflab.lab import session as lab
from perflab.screens.adhoc import AdhocScreen
from perflab.screens.confirm import Confirm
from perflab.screens.home import HomeScreen
from perflab.screens.results import ResultsScreen
from perflab.screens.run import RunScreen
from perflab.screens.sessions import SessionsScreen

SIZE = (80, 24)


def live_children() -> list[psutil.Process]:
    """This process's descendants still running. Zombies are left out: they are dead, and once an in-process run
    has made this pytest process a subreaper, any earlier test's killed grandchildren are re-parented here and wait
    to be reaped; they are not processes the app left running."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


async def wait_for(pilot, cond, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.1)


def test_run_the_real_benchmark_to_results_then_sessions_replay_and_delete(lab_dir: Path,
                                                                             capsys: pytest.CaptureFixture[str]):
    root = lab_dir / "store"

    async def scenario() -> None:
        app = PerflabApp(lab_dir / "profiles", root, workdir=lab_dir)
        async with app.run_test(size=SIZE) as pilot:
            home = app.screen
            assert isinstance(home, HomeScreen)
            await wait_for(pilot, lambda: home.loaded, 10)  # profiles are read in a worker
            assert [e.name for e in home.entries] == ["mini", "slow"]
            await pilot.press("enter")  # run "mini", the highlighted first row
            run = app.screen
            assert isinstance(run, RunScreen) and run.feed.title == "mini"
            await wait_for(pilot, lambda: run.outcome is not None or run.error)
            assert run.error == ""
            assert run.outcome.result.status == Status.PASSED
            await wait_for(pilot, lambda: run.snap is not None and run.snap.state == RunState.FINISHED, 5)
            assert run.snap.find("bench.median") and run.snap.find("proc.cpu")  # live panels had data
            await pilot.press("b")  # keep this run as the baseline
            baseline = lab_dir / "baselines" / "mini.json"
            assert baseline.exists()
            await pilot.press("r")
            results = app.screen
            assert isinstance(results, ResultsScreen) and results.result.status == Status.PASSED
            assert any(k == "pytest-benchmark-json" for k, _ in results.artifacts)
            await pilot.press("escape", "escape")
            assert isinstance(app.screen, HomeScreen)
            await wait_for(pilot, lambda: home.entries[0].verdict == "passed", 10)  # the last verdict, reloaded
            await pilot.press("enter")  # again: now judged against the baseline
            run2 = app.screen
            await wait_for(pilot, lambda: run2.outcome is not None or run2.error)
            result = run2.outcome.result
            assert "comparison" in result.data
            assert any(n.kind.startswith("baseline.") and n.text.startswith("regression gate") for n in result.notes)
            assert any("vs baseline" in t.title for t in result.tables)
            await pilot.press("escape")
            await pilot.press("s")
            sessions = app.screen
            assert isinstance(sessions, SessionsScreen)
            await wait_for(pilot, lambda: len(sessions.shown) == 2, 10)
            await pilot.press("c", "down", "c")  # compare the two sessions (in a worker)
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), 20)
            compared = app.screen
            assert isinstance(compared, ResultsScreen) and compared.result.tables
            await pilot.press("escape", "up")
            sid = sessions.shown[0].id
            await pilot.press("p")  # replay it through the same run screen
            replay = app.screen
            assert isinstance(replay, RunScreen) and replay.feed.is_replay
            await wait_for(pilot, lambda: replay.snap is not None, 10)
            await pilot.press("end")
            await wait_for(pilot, lambda: replay.snap.state == RunState.FINISHED, 5)
            assert replay.snap.status == Status.PASSED
            await pilot.press("home", "space")  # back to the start, paused
            await wait_for(pilot, lambda: replay.snap.t < 1.0, 5)
            assert replay.snap.state != RunState.FINISHED
            await pilot.press("r")
            assert isinstance(app.screen, ResultsScreen)
            await pilot.press("escape", "escape")
            assert app.screen is sessions
            await pilot.press("d")
            assert isinstance(app.screen, Confirm)
            await pilot.press("n")
            assert sid in [r.id for r in lab.list_sessions(root)]  # "no" keeps it
            await pilot.press("d", "y")
            await wait_for(pilot, lambda: len(sessions.shown) == 1, 10)
            assert [r.id for r in lab.list_sessions(root)] == [r.id for r in sessions.shown] != [sid]
            assert len(sessions.shown) == 1 and not (root / "artifacts" / sid).exists()

    asyncio.run(scenario())


def test_stop_a_running_benchmark(lab_dir: Path):
    root = lab_dir / "store"

    async def scenario() -> None:
        app = PerflabApp(lab_dir / "profiles", root, workdir=lab_dir)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, 10)
            await pilot.press("down", "enter")  # "slow"
            run = app.screen
            assert isinstance(run, RunScreen) and run.feed.title == "slow"
            # wait until pytest is really measuring, then stop
            await wait_for(pilot, lambda: run.snap is not None and run.snap.find("proc.cpu"), 30)
            await pilot.press("escape")  # refused while running
            assert app.screen is run
            await pilot.press("x")
            await wait_for(pilot, lambda: run.outcome is not None, 30)
            assert run.outcome.result.status == Status.INTERRUPTED
            assert run.outcome.duration < 30
            rows = lab.list_sessions(root)
            assert [r.status for r in rows] == [Status.INTERRUPTED]
            assert live_children() == []  # no orphan pytest

    asyncio.run(scenario())


def test_replay_key_bindings_seek_and_speed(lab_dir: Path):
    """A synthetic stored session (recorded through the real store), replayed from the command line entry."""
    from perflab.core.model import Profile, Result, Target, TestSpec
    from perflab.store.sessions import SessionStore
    from tests.tui.fakes import bench_events

    root = lab_dir / "store"
    with SessionStore(root) as st:
        prof = Profile("synthetic", "", Target("callable", "x:y"), TestSpec("benchmark"))
        sid = st.create_session(prof, machine={}, git=None)
        rec = st.recorder(sid)
        for e in bench_events(60.0):
            rec.handle(e)
        rec.flush()
        st.finish_session(sid, Result(Status.PASSED), 0, 60.0)

    async def scenario() -> None:
        app = PerflabApp(lab_dir / "profiles", root, replay=sid[-6:])
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.snap is not None, 10)
            run = app.screen
            await pilot.press("space")  # pause
            player = run.feed.player
            p0 = player.position
            assert player.state.value == "paused" and p0 < 10
            await pilot.press("right", "right")
            assert player.position == pytest.approx(p0 + 20.0)
            await wait_for(pilot, lambda: abs(run.snap.t - player.position) < 1e-9, 5)
            await pilot.press("left")
            assert player.position == pytest.approx(p0 + 10.0)
            await pilot.press("f")
            assert player.speed == 2.0
            await pilot.press("end")
            await wait_for(pilot, lambda: run.snap.state == RunState.FINISHED, 5)
            assert run.snap.t == pytest.approx(60.0)
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)

    asyncio.run(scenario())


def test_adhoc_form_validates_as_you_type_and_saves(lab_dir: Path):
    async def scenario() -> None:
        app = PerflabApp(lab_dir / "profiles", lab_dir / "store")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("n")
            form = app.screen
            assert isinstance(form, AdhocScreen)
            types = form.query_one("#type")
            built = {o.id: not o.disabled for o in types._options}
            assert built["benchmark"] and set(built) >= {"load", "cpu", "memory", "leak", "query"}
            await pilot.press(*"nosuchmodule:fn")
            assert form.profile is None  # the unimportable callable is reported
            form.query_one("#value").value = "perflab.demo.sorting:counting_sort"
            form.query_one("#params").value = "n = [100], processes = 1"
            form.query_one("#name").value = "made"
            await pilot.pause(0.1)
            assert form.profile is not None, str(form.query_one("#problems").content)
            await pilot.press("ctrl+s")
            saved = lab_dir / "profiles" / "made.toml"
            assert saved.exists() and "counting_sort" in saved.read_text()
            await pilot.press("escape")
            home = app.screen
            await wait_for(pilot, lambda: "made" in [e.name for e in home.entries], 10)

    asyncio.run(scenario())


def test_quitting_during_a_run_stops_it_and_leaves_no_child(lab_dir: Path):
    root = lab_dir / "store"

    async def scenario() -> None:
        app = PerflabApp(lab_dir / "profiles", root, workdir=lab_dir)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded, 10)
            await pilot.press("down", "enter")
            run = app.screen
            await wait_for(pilot, lambda: run.snap is not None and run.snap.find("proc.cpu"), 30)
            assert psutil.Process().children(recursive=True)  # pytest is running
            await pilot.press("ctrl+q")
        assert live_children() == []
        assert [r.status for r in lab.list_sessions(root)] == [Status.INTERRUPTED]

    asyncio.run(scenario())
