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


def test_headless_replay_shows_every_series_family(tmp_path: Path):
    """50 benchmark series and the monitor's: every family is shown, none pushed out by the others' names."""
    from perflab.core.model import Sample, labels

    root = tmp_path / "store"
    with SessionStore(root) as st:
        prof = Profile("many", "", Target("callable", "x:y"), TestSpec("benchmark"))
        sid = st.create_session(prof, machine={}, git=None)
        rec = st.recorder(sid)
        for t in range(20):
            for i in range(50):
                rec.handle(Sample(float(t), "bench.round", 0.001 * (i + 1), labels(benchmark=f"b{i:02d}")))
            for role in ("target", "server"):
                rec.handle(Sample(float(t), "proc.cpu", 0.5, labels(role=role)))
                rec.handle(Sample(float(t), "proc.rss", 1e6 * (t + 1), labels(role=role)))
            rec.handle(Sample(float(t), "load.rps", 100.0 + t))
        rec.flush()
        st.finish_session(sid, Result(Status.PASSED), 0, 20.0)
    out = run_cli("replay", sid, "--headless", "--store", str(root), timeout=60)
    assert out.returncode == 0, out.stderr
    for key in ("proc.cpu{role=server}", "proc.cpu{role=target}", "proc.rss{role=target}", "load.rps"):
        assert key in out.stdout, out.stdout
    assert out.stdout.index("proc.cpu") < out.stdout.index("load.rps") < out.stdout.index("bench.round")
    # the 5 slowest benchmarks one by one, the other 45 in one row that keeps their range
    assert "bench.round{benchmark=b49}" in out.stdout and "bench.round{benchmark=b00}" not in out.stdout
    assert "... 45 more bench.round series" in out.stdout
