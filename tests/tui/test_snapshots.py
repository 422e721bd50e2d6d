"""Snapshot tests (pytest-textual-snapshot) of every screen at 80x24 and at 120x40.

The run screen is fed by a fake source (fixed events folded by the real aggregator), the replay by a stored session
played on a frozen clock and moved with keys, and nothing on screen reads a clock, so the pictures are stable.
Screens that load in a worker are pictured once their data has arrived. Update with
``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.widgets import Input

from perflab.app import PerflabApp
from perflab.core.model import Profile, Result, Status, Target, TestSpec
from perflab.lab import session as lab
from perflab.lab.feeds import ReplayFeed
from perflab.screens.home import HomeScreen
from perflab.screens.results import ResultsScreen
from perflab.screens.sessions import SessionsScreen
from perflab.store.sessions import SessionStore
from perflab.widgets.chart import REPLAY_INTERVAL
from tests.tui.fakes import RESULT, FakeFeed, bench_events, snapshot_of
from tests.unit.test_compare_sessions import _rounds, _store

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: a fixed "started" for stored sessions
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
LONG = "a_profile_with_a_rather_long_name_for_an_80_column_terminal"


def _app(lab_dir: Path) -> PerflabApp:
    return PerflabApp(Path("profiles"), lab_dir / "store")  # relative: the heading shows no tmp path


async def until(pilot, cond, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out waiting for the app"
        await pilot.pause(0.05)


async def home_loaded(pilot) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, lambda: isinstance(pilot.app.screen, HomeScreen) and pilot.app.screen.loaded)


async def still_cursor(pilot) -> None:  # type: ignore[no-untyped-def]
    """A blinking cursor would make the picture depend on when it is taken."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def _sessions(root: Path) -> None:
    with SessionStore(root) as st:
        for i, (name, status, took) in enumerate((("sort", Status.PASSED, 0.963), (LONG, Status.FAILED, 25.0),
                                                  ("leak", Status.INTERRUPTED, 3725.5))):
            prof = Profile(name, "", Target("callable", "m:f"), TestSpec("benchmark" if i != 1 else "load"))
            sid = st.create_session(prof, machine={}, git=None, session_id=f"20260101-00000{i}-abcde{i}",
                                    started=T0 + 3600 * i)
            st.finish_session(sid, Result(status), 0, took)


@pytest.mark.parametrize("size", SIZES)
def test_home(lab_dir: Path, snap_compare, size):
    (lab_dir / "profiles" / "long.toml").write_text(
        (lab_dir / "profiles" / "mini.toml").read_text().replace('name = "mini"', f'name = "{LONG}"')
        .replace('callable = "perflab.demo.sorting:counting_sort"',
                 'callable = "perflab.demo.sorting:counting_sort_with_a_long_name_in_a_deep_module"'))
    _sessions(lab_dir / "store")  # a verdict in the "last" column

    async def ready(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        await pilot.press("down")  # the long one: its description below the table

    assert snap_compare(_app(lab_dir), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_help(lab_dir: Path, snap_compare, size):
    async def ready(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        await pilot.press("question_mark")

    assert snap_compare(_app(lab_dir), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_palette(lab_dir: Path, snap_compare, size):
    async def ready(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        await pilot.press("ctrl+p", *"run")
        await pilot.pause(0.5)  # the palette gathers hits for 0.25 s
        await still_cursor(pilot)

    assert snap_compare(_app(lab_dir), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_new_run_form(lab_dir: Path, snap_compare, size):
    async def ready(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        await pilot.press("n")
        await pilot.pause(0.2)
        await still_cursor(pilot)

    assert snap_compare(_app(lab_dir), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_run_live_panels(lab_dir: Path, snap_compare, size):
    app = _app(lab_dir)

    async def start(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        app.start_feed(FakeFeed([snapshot_of(bench_events(20.0, finished=False), 20.0)], hold=True))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=start)


@pytest.mark.parametrize("size", SIZES)
def test_replay(lab_dir: Path, snap_compare, size):
    root = lab_dir / "store"
    with SessionStore(root) as st:
        prof = Profile("synthetic", "", Target("callable", "x:y"), TestSpec("benchmark"))
        sid = st.create_session(prof, machine={}, git=None, session_id="20260101-000000-abcdef", started=T0)
        rec = st.recorder(sid)
        for e in bench_events(30.0):
            rec.handle(e)
        rec.flush()
        st.finish_session(sid, Result(Status.PASSED), 0, 30.0)
    app = _app(lab_dir)

    async def play(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        screen = app.start_feed(ReplayFeed(None, sid, "", loader=lambda: lab.open_replay(root, sid),
                                           clock=lambda: 0.0))
        await until(pilot, lambda: screen.snap is not None)
        await pilot.press("space", "right")  # paused at 10 s
        await until(pilot, lambda: screen.snap is not None and abs(screen.snap.t - 10.0) < 1e-9)
        await until(pilot, lambda: screen.feed.index.loaded >= 1.0)  # no "loading N %" left in the status line
        await pilot.pause(REPLAY_INTERVAL + 0.1)  # a replay's chart redraws at most once per REPLAY_INTERVAL

    assert snap_compare(app, terminal_size=size, run_before=play)


@pytest.mark.parametrize("size", SIZES)
def test_results(lab_dir: Path, snap_compare, size):
    app = _app(lab_dir)

    async def show(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        await app.push_screen(ResultsScreen("demo", RESULT, "20260101-000000-abcdef", 20.0,
                                            [("pytest-benchmark-json", "/nonexistent/pytest-benchmark-1.json")]))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show)


@pytest.mark.parametrize("size", SIZES)
def test_sessions(lab_dir: Path, snap_compare, size):
    _sessions(lab_dir / "store")

    async def ready(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsScreen) and pilot.app.screen.loaded)
        await pilot.press("down")

    assert snap_compare(_app(lab_dir), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_delete_confirm(lab_dir: Path, snap_compare, size):
    _sessions(lab_dir / "store")

    async def ready(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsScreen) and pilot.app.screen.loaded)
        await pilot.press("d")

    assert snap_compare(_app(lab_dir), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_compare_inconclusive(lab_dir: Path, snap_compare, size):
    root = lab_dir / "store"
    _store(root, "20260101-000000-aaaaaa", _rounds(1e-3, 1, 1))
    _store(root, "20260101-000001-bbbbbb", _rounds(1e-3, 1, 2))

    async def ready(pilot):  # type: ignore[no-untyped-def]
        await home_loaded(pilot)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsScreen) and pilot.app.screen.loaded)
        await pilot.press("c", "down", "c")
        await until(pilot, lambda: isinstance(pilot.app.screen, ResultsScreen))
        pilot.app.clear_notifications()  # "marked" would fade at a time the picture must not depend on
        await pilot.pause()

    assert snap_compare(_app(lab_dir), terminal_size=size, run_before=ready)
