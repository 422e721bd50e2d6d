"""The session store under the faults users met: runs overlapping in one folder, the app reading while a run
writes, a store locked by another process, a live owner whose start time looks wrong, a full disk.

Everything perflab does here runs in real subprocesses on real SQLite files; this module imports nothing of
perflab at module level, so it can be pointed at another checkout with PYTHONPATH to compare before and after.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

PERFLAB = [sys.executable, "-m", "perflab"]
CPU = """
    [target]
    callable = "perflab.demo.busy:crunch"
    [test]
    type = "cpu"
    duration = "{duration}s"
    rate = 100
"""
BENCH = """
    [target]
    callable = "perflab.demo.sorting:counting_sort"
    input = "perflab.demo.sorting:random_ints"
    [test]
    type = "benchmark"
    n = [100]
    processes = 1
    max_time = "0.2s"
"""


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO)]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def _profile(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\ntimeout = "2m"\n' + textwrap.dedent(body), encoding="utf-8")
    return path


def _start(profile: Path, store: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """A headless run, its output to a file (a pipe nobody reads until the end could stall it)."""
    log = cwd / f"{profile.stem}-{time.monotonic_ns()}.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([*PERFLAB, "--headless", str(profile), "--store", str(store), "-q",
                                 "--json", str(cwd / f"{profile.stem}.json")], cwd=cwd, env=_env(), stdout=f,
                                stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    proc.wait(timeout=180)
    return proc.returncode, proc.log.read_text(errors="replace")  # type: ignore[attr-defined]


def _db(store: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{store / 'perflab.db'}?mode=ro", uri=True)


def _whole(store: Path) -> list[tuple[str, str, int, int]]:
    """(profile, status, finished events, samples) per session, after an integrity check."""
    conn = _db(store)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return [(profile, status,
                 conn.execute("SELECT count(*) FROM events WHERE session=? AND kind='finished'", (sid,)).fetchone()[0],
                 conn.execute("SELECT count(*) FROM samples s JOIN series r ON s.series=r.id WHERE r.session=?",
                              (sid,)).fetchone()[0])
                for sid, profile, status in conn.execute("SELECT id, profile, status FROM sessions ORDER BY started")]
    finally:
        conn.close()


def _has_session(store: Path) -> bool:
    if not (store / "perflab.db").exists():
        return False
    try:
        conn = _db(store)
        try:
            return bool(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def _recorded(cwd: Path, name: str) -> dict[str, int]:
    doc = json.loads((cwd / f"{name}.json").read_text())
    return doc["runs"][0]["result"]["data"]["recorded"]


def test_short_runs_during_a_long_one_in_one_folder_leave_the_store_intact(tmp_path: Path) -> None:
    """The reported corruption: a long run, then two short runs one after the other during it, same folder.
    Each perflab process has two stores on the file; reading the header of the second with open()/close() dropped
    the first one's SQLite locks, so a short run ending deleted the WAL the long run still wrote to."""
    store = tmp_path / ".perflab"
    long_run = _start(_profile(tmp_path, "long", CPU.format(duration=8)), store, tmp_path)
    time.sleep(2.0)
    short = _profile(tmp_path, "short", BENCH)
    codes = [_finish(_start(short, store, tmp_path))[0]]
    codes.append(_finish(_start(short, store, tmp_path))[0])  # started after the first ended: a fresh WAL
    code, text = _finish(long_run)
    assert [code, *codes] == [0, 0, 0], text[-2000:]
    assert "Traceback" not in text
    rows = _whole(store)
    assert sorted((p, s, f) for p, s, f, _ in rows) == [("long", "passed", 1), ("short", "passed", 1),
                                                         ("short", "passed", 1)]
    assert [n for p, _, _, n in rows if p == "long"] == [_recorded(tmp_path, "long")["samples"]]


APP = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from perflab.lab import session as lab
    from perflab.store.sessions import SessionStore
    root, profiles, until = Path(sys.argv[1]), Path(sys.argv[2]), time.monotonic() + float(sys.argv[3])
    while time.monotonic() < until:  # what the home and sessions screens do on every reload
        lab.list_profiles(profiles, root)
        lab.list_sessions(root)
        if (root / "perflab.db").exists():
            with SessionStore(root, readonly=True) as st:
                st.sessions()
        time.sleep(0.02)
""")


def test_app_reading_while_runs_write_loses_nothing(tmp_path: Path) -> None:
    """The app open on the store (its screens reopen it several times a second) while a run and a short run
    write: both sessions are whole, stored exactly as counted, and passed as printed."""
    store = tmp_path / ".perflab"
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    long_profile = _profile(profiles, "long", CPU.format(duration=6))
    with open(tmp_path / "app.log", "wb") as log:
        app = subprocess.Popen([sys.executable, "-c", APP, str(store), str(profiles), "10"], cwd=tmp_path,
                               env=_env(), stdout=log, stderr=subprocess.STDOUT)
    long_run = _start(long_profile, store, tmp_path)
    time.sleep(1.5)
    code_short, text_short = _finish(_start(_profile(profiles, "short", BENCH), store, tmp_path))
    code_long, text_long = _finish(long_run)
    app.wait(timeout=120)
    assert app.returncode == 0, (tmp_path / "app.log").read_text()[-2000:]
    assert (code_long, code_short) == (0, 0), (text_long + text_short)[-2000:]
    for (profile, status, finished, samples) in _whole(store):
        assert (status, finished) == ("passed", 1), profile
        assert samples == _recorded(tmp_path, profile)["samples"] > 0


HOLD = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")  # the write lock, as a slow writer in another process would hold it
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
""")


def test_store_locked_by_another_process_is_shown_retried_and_nothing_lost(tmp_path: Path) -> None:
    """Another process holds the write lock for 7 s of an 9 s run: the run goes on, says so once (an error
    notice), keeps its events and stores them all once the lock is free; it passes, exit 0."""
    store = tmp_path / ".perflab"
    run = _start(_profile(tmp_path, "locked", CPU.format(duration=9)), store, tmp_path)
    deadline = time.monotonic() + 60
    while not _has_session(store) and time.monotonic() < deadline:  # the run is recording
        time.sleep(0.1)
    time.sleep(1.0)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(store / "perflab.db"), "7"], cwd=tmp_path,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    code, text = _finish(run)
    holder.wait(timeout=30)
    assert code == 0, text[-2000:]
    assert "Traceback" not in text
    flat = " ".join(text.split())  # the console wraps long lines
    assert flat.count("the run goes on, its events are kept and retried") == 1, text[-2000:]  # once, not per batch
    assert "error: " + str(store / "perflab.db") + ": the session store has been locked by another connection" in flat
    [(_, status, finished, samples)] = _whole(store)
    assert (status, finished) == ("passed", 1)
    assert samples == _recorded(tmp_path, "locked")["samples"] > 0


OWNER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from perflab.core import profiles
    from perflab.store.sessions import SessionStore
    prof = profiles.parse('name = "owned"\\n[target]\\ncallable = "perflab.demo.busy:crunch"\\n[test]\\ntype = "cpu"\\n', "o.toml")
    store = SessionStore(Path(sys.argv[1]))
    print(store.create_session(prof, machine={}, git=None), flush=True)
    time.sleep(120)
""")


def test_a_session_is_marked_crashed_only_once_its_owner_is_dead(tmp_path: Path) -> None:
    """A live owner whose recorded start time is a second off (psutil derives it from the boot time, which moves
    with the wall clock) stays ``running`` for every reader; killed with SIGKILL, it becomes ``crashed``."""
    store = tmp_path / "store"
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(store)], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                             text=True)
    try:
        assert owner.stdout is not None
        sid = owner.stdout.readline().strip()
        assert sid, "the owner created its session"
        conn = sqlite3.connect(store / "perflab.db", isolation_level=None)
        conn.execute("UPDATE sessions SET owner_created = owner_created - 1.0 WHERE id=?", (sid,))
        conn.close()
        listed = subprocess.run([*PERFLAB, "sessions", "--store", str(store)], cwd=tmp_path, env=_env(),
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and "running" in listed.stdout, listed.stdout + listed.stderr
        assert _status(store, sid) == "running"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
    listed = subprocess.run([*PERFLAB, "sessions", "--store", str(store)], cwd=tmp_path, env=_env(),
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "crashed" in listed.stdout, listed.stdout + listed.stderr
    assert _status(store, sid) == "crashed"


def _status(store: Path, sid: str) -> str:
    conn = _db(store)
    try:
        return str(conn.execute("SELECT status FROM sessions WHERE id=?", (sid,)).fetchone()[0])
    finally:
        conn.close()


NOISY = """
def chatter():
    for _ in range(40):
        print("chatter " + "y" * 200)
"""


def test_full_disk_is_one_line_exit_3_and_an_error_session(tmp_path: Path) -> None:
    """A store on a 2 MB filesystem that one run's output fills: no traceback, one line that says so, exit 3,
    the session marked ``error`` and the database intact (a batch is stored whole or not at all)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        (tmp_path / "noisy.py").write_text(NOISY, encoding="utf-8")
        # ~3.4 MB of output in about a second: more than the filesystem holds; a leak check writes no artifacts,
        # so the run itself passes on a roomy disk and only the store fails here
        profile = _profile(tmp_path, "noisy", """
            [target]
            callable = "noisy:chatter"
            [test]
            type = "leak"
            warmup = 5
            iterations = 400
        """)
        store = mnt / "store"
        out = subprocess.run([*PERFLAB, "--headless", str(profile), "--store", str(store), "-q"], cwd=tmp_path,
                             env=_env(PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path),
                                                                               os.environ.get("PYTHONPATH"),
                                                                               str(REPO)]))),
                             capture_output=True, text=True, timeout=180)
        text = out.stdout + out.stderr
        assert out.returncode == 3, text[-3000:]
        assert "Traceback" not in text
        flat = " ".join(text.split())  # the console wraps long lines
        assert flat.count("noisy: ERROR") == 1, text[-3000:]
        verdict = flat[flat.index("noisy: ERROR"):]
        assert verdict.split(": ", 2)[2].startswith("the session store could not record this run: "), verdict
        assert "database or disk is full" in verdict
        assert flat.count("disk is full") <= 2, text[-3000:]  # the live notice and the verdict, nothing more
        [(_, status, finished, samples)] = _whole(store)
        assert status == "error"
        conn = _db(store)
        try:
            assert conn.execute("SELECT exit_code FROM sessions").fetchone()[0] == 3
        finally:
            conn.close()
        # the store stays readable on the full disk
        listed = subprocess.run([*PERFLAB, "sessions", "--store", str(store)], cwd=tmp_path, env=_env(),
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and "error" in listed.stdout, listed.stdout + listed.stderr
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
