"""`perflab replay SESSION --headless` on a stored session, and its bad-input cases."""

from __future__ import annotations

from pathlib import Path

from perflab.core.model import Profile, Result, Status, Target, TestSpec
from perflab.store.sessions import SessionStore
from tests.conftest import run_cli
from tests.tui.fakes import bench_events


def _store(root: Path) -> str:
    with SessionStore(root) as st:
        prof = Profile("synthetic", "", Target("callable", "x:y"), TestSpec("benchmark"))
        sid = st.create_session(prof, machine={}, git=None)
        rec = st.recorder(sid)
        for e in bench_events(30.0):
            rec.handle(e)
        rec.flush()
        st.finish_session(sid, Result(Status.PASSED, "all good"), 0, 30.0)
    return sid


def test_headless_replay_prints_summary_and_timeline(tmp_path: Path):
    sid = _store(tmp_path / "store")
    out = run_cli("replay", sid[-6:], "--headless", "--store", str(tmp_path / "store"), timeout=60)
    assert out.returncode == 0, out.stderr
    assert "synthetic: PASSED" in out.stdout and sid in out.stdout
    assert "timeline (30 s" in out.stdout
    assert "phase bench" in out.stdout and "warning: the machine is busy" in out.stdout
    assert "finished: passed" in out.stdout
    assert "proc.rss{role=target}" in out.stdout and "300" in out.stdout  # 30 s at 10 Hz


def test_replay_of_unknown_session_is_one_line_exit_2(tmp_path: Path):
    _store(tmp_path / "store")
    out = run_cli("replay", "nope", "--headless", "--store", str(tmp_path / "store"), timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "no session 'nope'" in out.stderr
    out = run_cli("replay", "last", "--headless", "--store", str(tmp_path / "empty"), timeout=60)
    assert out.returncode == 2 and "no session store here" in out.stderr
