"""Snapshot tests (pytest-textual-snapshot) of home, run, results and sessions at 80x24.

The run screen is fed by a fake source (fixed events folded by the real aggregator) and nothing on screen
reads a clock, so the pictures are stable. Update with ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path

from perflab.app import PerflabApp
from perflab.core.model import Profile, Result, Status, Target, TestSpec
from perflab.screens.results import ResultsScreen
from perflab.store.sessions import SessionStore
from tests.tui.fakes import RESULT, FakeFeed, bench_events, snapshot_of

SIZE = (80, 24)
T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: a fixed "started" for stored sessions


def _app(lab_dir: Path) -> PerflabApp:
    return PerflabApp(Path("profiles"), lab_dir / "store")  # relative: the heading shows no tmp path


def test_home(lab_dir: Path, snap_compare):
    assert snap_compare(_app(lab_dir), terminal_size=SIZE)


def test_run_live_panels(lab_dir: Path, snap_compare):
    app = _app(lab_dir)

    async def start(pilot):  # type: ignore[no-untyped-def]
        app.start_feed(FakeFeed([snapshot_of(bench_events(20.0, finished=False), 20.0)], hold=True))
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=start)


def test_results(lab_dir: Path, snap_compare):
    app = _app(lab_dir)

    async def show(pilot):  # type: ignore[no-untyped-def]
        await app.push_screen(ResultsScreen("demo", RESULT, "20260101-000000-abcdef", 20.0,
                                            [("pytest-benchmark-json", "/nonexistent/pytest-benchmark-1.json")]))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=show)


def test_sessions(lab_dir: Path, snap_compare):
    with SessionStore(lab_dir / "store") as st:
        for i, (name, status) in enumerate((("sort", Status.PASSED), ("api", Status.FAILED),
                                            ("leak", Status.INTERRUPTED))):
            prof = Profile(name, "", Target("callable", "m:f"), TestSpec("benchmark" if i != 1 else "load"))
            sid = st.create_session(prof, machine={}, git=None, session_id=f"20260101-00000{i}-abcde{i}",
                                    started=T0 + 3600 * i)
            st.finish_session(sid, Result(status), 0, 12.5 * (i + 1))
    assert snap_compare(_app(lab_dir), terminal_size=SIZE, press=["s", "down"])
