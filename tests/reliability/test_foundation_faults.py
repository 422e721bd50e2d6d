"""Faults and bad input for the foundation: one line, the documented exit code, no lost data, no orphans."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from perflab.core import profiles
from perflab.core.engine import Engine
from perflab.core.model import ExitCode, Status
from perflab.runners.framework.base import RunContext, runner_for
from perflab.store import schema
from perflab.store.sessions import SessionStore
from tests.conftest import REPO, command_line, run_cli

SLOW_BENCH = '''
import time


def test_slow(benchmark):
    benchmark.pedantic(time.sleep, args=(0.2,), rounds=200, iterations=1)
'''


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line(text: str) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    assert len(lines) == 1, text
    return lines[0]


def slow_profile(tmp: Path, extra: str = "") -> Path:
    (tmp / "benches").mkdir()
    (tmp / "benches" / "test_slow.py").write_text(SLOW_BENCH)
    path = tmp / "slow.toml"
    path.write_text(f'name = "slow"\n{extra}[target]\npytest = "benches"\n[test]\ntype = "benchmark"\n'
                    "processes = 2\nwarmup = false\n")
    return path


def small_store(tmp: Path) -> Path:
    """A real store with one finished session, written by the library (fast)."""
    store = tmp / "store"
    prof = profiles.parse('[target]\ncallable = "perflab.demo.sorting:counting_sort"\n[test]\ntype = "benchmark"\n',
                          "p.toml")
    with SessionStore(store) as s:
        sid = s.create_session(prof, machine={}, git=None)
        s.finish_session(sid, __import__("perflab.core.model", fromlist=["Result"]).Result(Status.PASSED), 0, 1.0)
    return store


# ------------------------------------------------------------------ bad profiles


def test_bad_profile_exits_2_and_runs_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[target]\ncallable = "perflab.demo.sorting:counting_sort"\n'
                   '[test]\ntype = "benchmark"\nprocesses = "ten"\nrounds = 3\n')
    out = run_cli("--headless", str(bad), "--store", str(tmp_path / "store"), cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f'{bad}:6: test.processes: expected a positive integer, got "ten"',
        f'{bad}:7: test.rounds: unknown key (did you mean "min_rounds"?)',
    ]
    assert out.stdout == ""
    assert not (tmp_path / "store").exists()  # no session, no store, no child


def test_missing_profile_and_syntax_error_exit_2(tmp_path: Path) -> None:
    out = run_cli("--headless", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert out.returncode == 2
    assert one_line(out.stderr).endswith("nope.toml: no such profile file or folder")
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[test\ntype = "benchmark"\n')
    out = run_cli("--headless", str(broken), cwd=tmp_path)
    assert out.returncode == 2
    assert one_line(out.stderr).startswith(f"{broken}:2: not valid TOML:")


# ------------------------------------------------------------------ the store


def test_killed_run_is_marked_crashed_on_next_open(tmp_path: Path) -> None:
    store = tmp_path / "store"
    code = textwrap.dedent(f"""
        import os, signal, time
        from pathlib import Path
        from perflab.core import profiles
        from perflab.core.model import Sample
        from perflab.store.sessions import SessionStore
        prof = profiles.parse('[target]\\ncallable = "perflab.demo.sorting:counting_sort"\\n'
                              '[test]\\ntype = "benchmark"\\n', "p.toml")
        store = SessionStore(Path({str(store)!r}))
        sid = store.create_session(prof, machine={{}}, git=None)
        rec = store.recorder(sid, flush_interval=0.0)
        for i in range(1000):
            rec.handle(Sample(i * 0.001, "bench.round", 1e-3))
        print(sid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == -signal.SIGKILL
    sid = out.stdout.strip()
    listed = run_cli("sessions", "--store", str(store))
    assert listed.returncode == 0
    assert sid in listed.stdout and "crashed" in listed.stdout
    with SessionStore(store) as s:
        row = s.get(sid)
        assert row.status == Status.CRASHED
        assert row.message == "the perflab process recording this session died"
        assert len(s.samples(sid)) == 1000  # flushed before the kill: nothing lost


@pytest.mark.parametrize("damage", ["random", "truncated", "newer"])
def test_damaged_store_exits_2_with_one_line_and_is_untouched(tmp_path: Path, damage: str) -> None:
    store = small_store(tmp_path)
    db = store / "perflab.db"
    if damage == "random":
        db.write_bytes(os.urandom(20_000))
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[:5000])
    else:
        conn = sqlite3.connect(db)
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(schema.SCHEMA_VERSION + 5),))
        conn.commit()
        conn.close()
    before = digest(db)
    profile = tmp_path / "p.toml"
    profile.write_text('[target]\ncallable = "perflab.demo.sorting:counting_sort"\n'
                       'input = "perflab.demo.sorting:random_ints"\n[test]\ntype = "benchmark"\nn = [10]\n')
    for args in (["sessions"], ["show", "last"], ["--headless", str(profile)]):
        out = run_cli(*args, "--store", str(store), cwd=tmp_path)
        assert out.returncode == 2, (args, out.stderr)
        line = one_line(out.stderr)
        assert line.startswith(f"perflab: {db}: ")
        assert {"random": "not an SQLite database", "truncated": "truncated",
                "newer": "newer than this perflab supports"}[damage] in line
        assert digest(db) == before
    assert not (store / "artifacts").exists()  # the headless run started nothing


def _no_dac(argv: list[str]) -> list[str]:
    """Run as root without the capabilities that bypass file permissions, so a read-only folder is one."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot make a folder read-only")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", *argv]


def test_read_only_store_folder(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('[target]\ncallable = "perflab.demo.sorting:counting_sort"\n'
                       'input = "perflab.demo.sorting:random_ints"\n[test]\ntype = "benchmark"\nn = [10]\n')
    empty = tmp_path / "ro-empty"
    empty.mkdir()
    store = small_store(tmp_path)
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    before = digest(store / "perflab.db")
    for d in (empty, store):
        d.chmod(0o555)
        (d / "perflab.db").chmod(0o444) if (d / "perflab.db").exists() else None
    try:
        base = [sys.executable, "-m", "perflab"]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        for d in (empty, store):
            out = subprocess.run(_no_dac([*base, "--headless", str(profile), "--store", str(d)]), cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120, env=env)
            assert out.returncode == 2, out.stderr
            assert "permission denied" in one_line(out.stderr)
        # reading a read-only store still works
        out = subprocess.run(_no_dac([*base, "sessions", "--store", str(store)]), cwd=tmp_path,
                             capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0, out.stderr
        assert "passed" in out.stdout
    finally:
        for d in (empty, store):
            d.chmod(0o755)
    assert digest(store / "perflab.db") == before
    assert sorted(p.name for p in empty.iterdir()) == []


def test_store_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    profile = tmp_path / "p.toml"
    profile.write_text('[target]\ncallable = "perflab.demo.sorting:counting_sort"\n[test]\ntype = "benchmark"\n')
    out = run_cli("--headless", str(profile), "--store", str(tmp_path / "afile"), cwd=tmp_path)
    assert out.returncode == 2
    assert "cannot create the session store" in one_line(out.stderr)


# ------------------------------------------------------------------ stopping runs


def perflab_children(root_pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def pytest_processes(marker: str) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if marker in cmd and "pytest" in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p.pid)
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_headless_run_exits_130_stores_interrupted_and_leaves_no_child(tmp_path: Path,
                                                                                 sig: signal.Signals) -> None:
    slow_profile(tmp_path)
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "perflab", "--headless", "slow.toml", "--store", str(store),
                             "-q"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("pytest" in command_line(c)
                                                       for c in perflab_children(proc.pid)):
            time.sleep(0.1)
        assert pytest_processes(str(tmp_path)), "the pytest child never started"
        time.sleep(1.0)  # mid-run: the benchmark is sleeping in its rounds
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err
    assert pytest_processes(str(tmp_path)) == []
    with SessionStore(store, readonly=True) as s:
        (row,) = s.sessions()
        assert row.status == Status.INTERRUPTED
        assert row.exit_code == 130
    assert "slow: INTERRUPTED" in out


def test_profile_timeout_ends_the_session_as_error(tmp_path: Path) -> None:
    slow_profile(tmp_path, extra='timeout = "3s"\n')
    t0 = time.monotonic()
    out = run_cli("--headless", "slow.toml", "--store", "store", "-q", cwd=tmp_path, timeout=120)
    assert time.monotonic() - t0 < 60
    assert out.returncode == ExitCode.RUNNER_ERROR, out.stdout + out.stderr
    assert "timed out after 3 s" in out.stdout
    assert pytest_processes(str(tmp_path)) == []
    with SessionStore(tmp_path / "store", readonly=True) as s:
        (row,) = s.sessions()
        assert row.status == Status.ERROR
        assert row.message == "timed out after 3 s"
        notices = [e for e in s.other_events(row.id) if type(e).__name__ == "Notice"]
        assert any(n.code == "run.timeout" for n in notices)  # type: ignore[attr-defined]


def test_engine_stop_interrupts_and_reaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    profile = profiles.load(slow_profile(tmp_path), base=tmp_path)
    events: list[object] = []

    class Sink:
        def handle(self, event: object) -> None:
            events.append(event)

    engine = Engine(profile, [Sink()], runner_for=runner_for, context=RunContext, session_id="t",
                    artifacts_dir=tmp_path / "art", workdir=tmp_path)

    async def go() -> object:
        loop = asyncio.get_running_loop()

        def stop_when_running() -> None:
            if pytest_processes(str(tmp_path)):
                loop.call_later(0.5, engine.stop)
            else:
                loop.call_later(0.2, stop_when_running)

        loop.call_later(0.2, stop_when_running)
        return await engine.run()

    outcome = asyncio.run(go())
    assert outcome.result.status == Status.INTERRUPTED  # type: ignore[attr-defined]
    assert outcome.exit_code == ExitCode.INTERRUPTED  # type: ignore[attr-defined]
    assert type(events[-1]).__name__ == "Finished"
    assert pytest_processes(str(tmp_path)) == []
