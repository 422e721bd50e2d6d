"""The SQLite session store: write, read, batches, refusal of corrupt/foreign/newer files (left untouched); one file
shared safely in a process (locks kept, one writer), owners judged by their lock, failed writes kept and retried."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from perflab.core import profiles
from perflab.core.model import (
    Artifact,
    ExitCode,
    Finished,
    Level,
    Log,
    Metric,
    Note,
    Notice,
    Phase,
    Quantity,
    Result,
    Sample,
    Status,
    SummaryTable,
    Table,
    labels,
)
from perflab.store import dbfile, opening, owners, schema
from perflab.store.sessions import SessionStore, StoreBusyError, StoreError, StoreWriteError

PROFILE = profiles.parse(
    'name = "demo"\n[target]\ncallable = "perflab.demo.sorting:counting_sort"\n'
    'input = "perflab.demo.sorting:random_ints"\n[test]\ntype = "benchmark"\nn = [10]\n', "demo.toml")
MACHINE = {"cpu": "test cpu", "cores": 2, "python": "3.11"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_store(root: Path, sessions: int = 1) -> list[str]:
    ids = []
    with SessionStore(root) as store:
        for i in range(sessions):
            sid = store.create_session(PROFILE, machine=MACHINE, git={"commit": "abc", "dirty": True})
            rec = store.recorder(sid)
            for j in range(1000):
                rec.handle(Sample(j * 0.001, "bench.round", 1e-3 + j * 1e-9, labels(process=i)))
            rec.handle(Log(0.5, f"line {i}", "stdout", "pytest-1"))
            rec.handle(Finished(1.0, Status.PASSED))
            store.finish_session(sid, Result(Status.PASSED, "ok"), 0, 1.0)
            ids.append(sid)
    return ids


def test_write_and_read_a_session(tmp_path: Path) -> None:
    with SessionStore(tmp_path) as store:
        sid = store.create_session(PROFILE, machine=MACHINE, git={"commit": "abc123", "dirty": False})
        assert store.get(sid).status == Status.RUNNING
        rec = store.recorder(sid, secrets=["hunter2"])
        events = [
            Phase(0.0, "start", "begin", 0.0),
            Sample(0.1, "proc.cpu", 0.5, labels(role="target")),
            Log(0.15, "token=hunter2 here", "stderr", "target"),
            Sample(0.2, "bench.round", 0.001, labels(benchmark="a", process=1)),
            Table(0.25, "top", ("fn", "n", "size"), (("f", 1, Quantity(2048.0, "B")),)),
            Artifact(0.3, "pytest-benchmark-json", "/x.json", "json"),
            Notice(0.35, Level.WARNING, "noisy hunter2", "x.y"),
            Finished(0.4, Status.PASSED, "done"),
        ]
        for e in events:
            rec.handle(e)
        result = Result(Status.PASSED, "all good hunter2", (Metric("median", 0.001, "s", labels(benchmark="a")),),
                        {"median{benchmark=a}": ((0.001, 0.002), (0.0015,))}, {"k": [1, 2]},
                        (SummaryTable("t", ("a", "b", "c", "d"), (("x", Quantity(0.0015, "s"), 3, None),)),),
                        (Note("note", Level.WARNING, "x.y"),))
        store.finish_session(sid, result, 0, 0.4, redact=("hunter2",))

    with SessionStore(tmp_path, readonly=True) as store:
        row = store.get(sid)
        assert row.status == Status.PASSED
        assert row.profile == "demo" and row.test_type == "benchmark"
        assert row.profile_text == PROFILE.text
        assert row.machine == MACHINE
        assert row.git == {"commit": "abc123", "dirty": False}
        assert row.exit_code == 0 and row.duration == 0.4
        assert row.message == "all good ***"
        assert row.result is not None
        assert row.result.metric("median", benchmark="a").value == 0.001  # type: ignore[union-attr]
        assert row.result.raw["median{benchmark=a}"] == ((0.001, 0.002), (0.0015,))
        assert row.result.tables[0].rows == (("x", Quantity(0.0015, "s"), 3, None),)
        assert row.result.notes == (Note("note", Level.WARNING, "x.y"),)
        back = list(store.events(sid))
        assert [type(e).__name__ for e in back] == [type(e).__name__ for e in events]
        assert [e.t for e in back] == [e.t for e in events]
        assert back[2].line == "token=*** here"  # type: ignore[union-attr]
        assert back[5] == events[5]  # the artifact keeps its kind
        assert back[4] == events[4]  # the table keeps its typed cells
        assert back[6].message == "noisy ***"  # type: ignore[union-attr]
        assert store.samples(sid, "bench.round")[0].labels == (("benchmark", "a"), ("process", "1"))
        assert [a.path for a in store.artifacts(sid)] == ["/x.json"]


def test_batched_samples_round_trip(tmp_path: Path) -> None:
    with SessionStore(tmp_path) as store:
        sid = store.create_session(PROFILE, machine=MACHINE, git=None)
        rec = store.recorder(sid, flush_interval=3600)
        rows = [("load.rps", labels(endpoint=f"/e{i % 3}"), i * 0.01, float(i)) for i in range(50_000)]
        rec.add_samples(rows)
        assert store.samples(sid) == []  # buffered, not yet committed
        rec.flush()
        assert rec.written == 50_000
        got = store.samples(sid, "load.rps")
        assert len(got) == 50_000
        assert sum(s.value for s in got) == sum(r[3] for r in rows)
        assert {s.labels for s in got} == {labels(endpoint=f"/e{i}") for i in range(3)}
        assert len(store.series(sid)) == 3


def test_recorder_flushes_by_time_even_when_events_stop(tmp_path: Path) -> None:
    async def scenario(store: SessionStore, sid: str) -> tuple[int, int]:
        rec = store.recorder(sid, flush_interval=0.2)
        rec.handle(Sample(0.0, "x", 1.0))
        rec.handle(Sample(0.01, "x", 2.0))  # too soon for a size/time flush: the timer must do it
        before = len(store.samples(sid))
        await asyncio.sleep(0.6)
        return before, len(store.samples(sid))

    with SessionStore(tmp_path) as store:
        sid = store.create_session(PROFILE, machine=MACHINE, git=None)
        before, after = asyncio.run(scenario(store, sid))
    assert before < 2
    assert after == 2


def test_resolve_by_prefix_suffix_last_and_errors(tmp_path: Path) -> None:
    ids = make_store(tmp_path, sessions=2)
    with SessionStore(tmp_path, readonly=True) as store:
        assert store.resolve(ids[0]) == ids[0]
        assert store.resolve(ids[1][-6:]) == ids[1]
        assert store.resolve("last") in ids
        assert [r.id for r in store.sessions()] == [ids[1], ids[0]]  # newest first
        with pytest.raises(StoreError, match="no session 'zzz'"):
            store.resolve("zzz")
        with pytest.raises(StoreError, match="is ambiguous"):
            store.resolve(ids[0][:4])
        assert len(store.sessions(status="passed")) == 2
        assert store.sessions(profile="other") == []


def test_delete_removes_rows_and_artifacts(tmp_path: Path) -> None:
    ids = make_store(tmp_path, sessions=2)
    with SessionStore(tmp_path) as store:
        art = store.artifacts_dir(ids[0])
        art.mkdir(parents=True)
        (art / "f.json").write_text("{}")
        store.delete(ids[0])
        assert [r.id for r in store.sessions()] == [ids[1]]
        assert store.samples(ids[0]) == []
        assert not art.exists()
        assert len(store.samples(ids[1])) == 1000


def test_running_session_of_a_live_process_is_not_marked_crashed(tmp_path: Path) -> None:
    with SessionStore(tmp_path) as store:
        sid = store.create_session(PROFILE, machine=MACHINE, git=None)
    with SessionStore(tmp_path) as again:  # the owner (this process) is alive: still running
        assert again.get(sid).status == Status.RUNNING


def test_readonly_open_of_missing_store_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no session store here"):
        SessionStore(tmp_path / "none", readonly=True)
    assert not (tmp_path / "none").exists()


def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    make_store(tmp_path)
    db = tmp_path / "perflab.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(schema.SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    before = digest(db)
    for readonly in (False, True):
        with pytest.raises(StoreError) as info:
            SessionStore(tmp_path, readonly=readonly)
        msg = str(info.value)
        assert "\n" not in msg
        assert f"format {schema.SCHEMA_VERSION + 1} is newer than this perflab supports" in msg
    assert digest(db) == before


def test_random_bytes_are_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "perflab.db"
    db.write_bytes(os.urandom(64 * 1024))
    before = digest(db)
    with pytest.raises(StoreError, match="not a perflab session store \\(not an SQLite database\\)"):
        SessionStore(tmp_path)
    assert digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["perflab.db"]


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_database_is_refused_and_left_untouched(tmp_path: Path, keep: float) -> None:
    make_store(tmp_path, sessions=3)
    db = tmp_path / "perflab.db"
    data = db.read_bytes()
    assert data.startswith(b"SQLite format 3\x00")
    db.write_bytes(data[: int(len(data) * keep)])
    before = digest(db)
    with pytest.raises(StoreError) as info:
        SessionStore(tmp_path)
    assert "corrupt session store" in str(info.value) or "not a perflab session store" in str(info.value)
    assert "\n" not in str(info.value)
    assert digest(db) == before


def test_corrupt_pages_inside_are_refused(tmp_path: Path) -> None:
    make_store(tmp_path, sessions=3)
    db = tmp_path / "perflab.db"
    data = bytearray(db.read_bytes())
    data[4096:len(data)] = os.urandom(len(data) - 4096)  # keep the header page, scramble every table
    db.write_bytes(bytes(data))
    before = digest(db)
    with pytest.raises(StoreError, match="corrupt session store"):
        SessionStore(tmp_path)
    assert digest(db) == before


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "perflab.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    before = digest(db)
    with pytest.raises(StoreError, match="without a perflab schema version; it was left untouched"):
        SessionStore(tmp_path)
    assert digest(db) == before


def test_secrets_are_redacted_and_an_unset_one_changes_nothing(tmp_path: Path) -> None:
    """A secret's value never reaches the stored result or logs; an unset variable ("") is not a secret."""
    secret = 'tok"en\\42'
    with SessionStore(tmp_path) as store:
        sid = store.create_session(PROFILE, machine=MACHINE, git=None)
        rec = store.recorder(sid, (secret, ""))
        rec.handle(Log(0.1, f"Authorization: Bearer {secret}", "stdout", "target"))
        rec.handle(Finished(0.2, Status.FAILED))
        result = Result(Status.FAILED, f"server said {secret}", notes=(Note(f"header {secret}"), Note("plain note")))
        store.finish_session(sid, result, 1, 0.2, (secret, ""))
        row = store.get(sid)
        logs = [e.line for e in store.logs(sid)]
    assert row.result is not None
    assert row.message == "server said ***"
    assert row.result.notes == (Note("header ***"), Note("plain note"))
    assert logs == ["Authorization: Bearer ***"]
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("perflab.db*"))  # the WAL file too
    assert b"Bearer ***" in raw or b"server said ***" in raw
    assert b"tok" not in raw


# ------------------------------------------------------------------ sharing one file safely


def _my_locks(db: Path) -> list[str]:
    """This process's POSIX locks on ``db`` as the kernel lists them (SQLite's are fcntl locks), without the
    leading ordinal, which other processes' locks shift."""
    ino = os.stat(db).st_ino
    with open("/proc/locks") as f:
        return sorted(" ".join(line.split()[1:]) for line in f if f" {os.getpid()} " in line and f":{ino} " in line)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks to see SQLite's locks")
def test_opening_another_store_keeps_sqlites_locks(tmp_path: Path) -> None:
    """A WAL connection holds a shared fcntl lock on the database file for its whole life; closing any other
    descriptor of the file in the process would drop it, and another process could then delete the WAL under
    this one. Opening (and closing) a second store in the same process must leave the lock in place."""
    make_store(tmp_path)
    db = tmp_path / "perflab.db"
    with SessionStore(tmp_path) as first:
        first.sessions()
        held = _my_locks(db)
        assert held, "a WAL connection holds a lock on the database file"
        for readonly in (True, False, True):
            SessionStore(tmp_path, readonly=readonly).close()
        assert _my_locks(db) == held
    assert _my_locks(db) == []


def test_one_writer_connection_per_process_and_file(tmp_path: Path) -> None:
    a = SessionStore(tmp_path)
    b = SessionStore(tmp_path, readonly=True)
    c = SessionStore(tmp_path / "other")
    try:
        assert a.writer() is b.writer()
        assert a.writer() is not c.writer()
        assert dbfile.open_connections(a.db_path) == 3  # two readers and the one writer
    finally:
        for s in (a, b, c):
            s.close()
    assert dbfile.open_connections(a.db_path) == 0
    a.close()  # closing twice is harmless


def test_an_unclosed_store_releases_its_connections_when_collected(tmp_path: Path) -> None:
    import gc

    SessionStore(tmp_path).writer()
    gc.collect()
    assert dbfile.open_connections(tmp_path / "perflab.db") == 0


def test_a_new_store_appears_whole_and_the_first_creator_wins(tmp_path: Path) -> None:
    db = tmp_path / "perflab.db"
    opening.create_file(db)
    first = os.stat(db).st_ino
    opening.create_file(db)  # another process creating it at the same moment: it keeps the first one
    assert os.stat(db).st_ino == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["perflab.db"]  # no temporary file left behind
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(schema.SCHEMA_VERSION)
    conn.close()
    with SessionStore(tmp_path, readonly=True) as reader:  # complete before anyone opened it for writing
        assert reader.sessions() == []


# ------------------------------------------------------------------ crashed only when the owner is dead


def _running_row(store: SessionStore, sid: str, pid: int, created: float, host: str | None = None) -> None:
    import socket

    store.create_session(PROFILE, machine=MACHINE, git=None, session_id=sid)
    owners.release(store.locks_dir, sid)  # as if another process owned it: no lock of ours
    store.write(lambda c: c.execute("UPDATE sessions SET owner_pid=?, owner_created=?, owner_host=? WHERE id=?",
                                    (pid, created, host or socket.gethostname(), sid)))


def _no_such_pid() -> int:
    import psutil

    pid = 4_000_000
    while psutil.pid_exists(pid):
        pid -= 1
    return pid


def test_owner_holding_its_lock_is_alive_whatever_its_start_time_says(tmp_path: Path) -> None:
    """The owner's flock decides, not psutil's start time (derived from the boot time, which moves with the clock)."""
    import fcntl

    with SessionStore(tmp_path) as store:
        _running_row(store, "held", _no_such_pid(), 0.0)
        store.locks_dir.mkdir(exist_ok=True)
        fd = os.open(owners.lock_path(store.locks_dir, "held"), os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)  # another open file description: as another process would hold it
        try:
            with SessionStore(tmp_path, readonly=True) as reader:
                assert reader.get("held").status == Status.RUNNING
        finally:
            os.close(fd)  # the owner dies
        with SessionStore(tmp_path, readonly=True) as reader:
            row = reader.get("held")
        assert row.status == Status.CRASHED
        assert row.message == "the perflab process recording this session died"
        assert not owners.lock_path(store.locks_dir, "held").exists()


def test_own_running_session_with_a_shifted_start_time_stays_running(tmp_path: Path) -> None:
    import psutil

    with SessionStore(tmp_path) as store:
        sid = store.create_session(PROFILE, machine=MACHINE, git=None)
        # psutil's start time moved by a second (a stepped clock): the lock still says alive
        store.write(lambda c: c.execute("UPDATE sessions SET owner_created=? WHERE id=?",
                                        (psutil.Process().create_time() - 1.0, sid)))
        with SessionStore(tmp_path, readonly=True) as again:
            assert again.get(sid).status == Status.RUNNING
        store.finish_session(sid, Result(Status.PASSED, "ok"), 0, 1.0)
        assert not owners.lock_path(store.locks_dir, sid).exists()  # released with the final status


def test_rows_without_a_lock_file_fall_back_to_the_process_id(tmp_path: Path) -> None:
    import psutil

    me = psutil.Process()
    with SessionStore(tmp_path) as store:
        _running_row(store, "gone", _no_such_pid(), 1.0)
        _running_row(store, "me-shifted", me.pid, me.create_time() + 1.0)  # within the tolerance: alive
        _running_row(store, "reused", me.pid, me.create_time() - 3600)  # another process got the pid
        _running_row(store, "elsewhere", _no_such_pid(), 1.0, host="another-host")  # cannot be checked
    with SessionStore(tmp_path, readonly=True) as reader:
        status = {r.id: r.status for r in reader.sessions()}
    assert status == {"gone": Status.CRASHED, "me-shifted": Status.RUNNING, "reused": Status.CRASHED,
                      "elsewhere": Status.RUNNING}


# ------------------------------------------------------------------ failing writes: retried, kept, never half


def _hold_write_lock(db: Path, seconds: float) -> threading.Thread:
    """Another connection (as another process would) holds the write lock for ``seconds``."""
    ready = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    t = threading.Thread(target=hold)
    t.start()
    ready.wait()
    return t


def test_busy_store_is_retried_until_the_writer_lets_go(tmp_path: Path) -> None:
    with SessionStore(tmp_path) as store:
        sid = store.create_session(PROFILE, machine=MACHINE, git=None)
        rec = store.recorder(sid, flush_interval=3600)
        for i in range(100):
            rec.handle(Sample(i * 0.01, "x", float(i)))
        holder = _hold_write_lock(store.db_path, 0.8)
        with pytest.raises(StoreBusyError):
            rec.flush(timeout=0.1)  # gives up early: nothing written, nothing lost
        assert rec.pending == 100 and store.samples(sid) == []
        rec.flush()  # the default budget outlasts the holder
        holder.join()
        assert rec.pending == 0 and rec.counts["samples"] == 100
        assert [s.value for s in store.samples(sid)] == [float(i) for i in range(100)]


def test_full_store_keeps_the_batch_reports_it_and_stores_it_later(tmp_path: Path) -> None:
    """A batch that fails (here SQLite's own "database or disk is full", from a page limit on the writer) is
    rolled back whole, stays buffered, is reported, and is stored once there is room again."""
    with SessionStore(tmp_path) as store:
        sid = store.create_session(PROFILE, machine=MACHINE, git=None)
        conn = store.writer().conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        errors: list[Exception] = []
        rec = store.recorder(sid, flush_interval=0.0)
        rec.on_error = errors.append
        for i in range(5000):
            rec.handle(Sample(i * 0.001, "x", float(i), labels(k=str(i % 3))))
            rec.handle(Log(i * 0.001, f"line {i}", "stdout", "target"))
        rec.handle(Finished(5.0, Status.PASSED))
        assert errors, "the failure was reported"
        assert all(isinstance(e, StoreWriteError) and "database or disk is full" in str(e) for e in errors)
        assert len(errors) < 10, "backoff: not one attempt per event"
        # whole batches only: what is stored is exactly what the recorder counted as committed, the rest is kept
        assert rec.counts["samples"] < 5000
        assert len(store.samples(sid)) == rec.counts["samples"] and len(store.logs(sid)) == rec.counts["logs"]
        assert len(store.series(sid)) == (3 if rec.counts["samples"] >= 3 else rec.counts["samples"])
        assert rec.pending + sum(rec.counts.values()) == 10_001
        conn.execute("PRAGMA max_page_count = 1073741823")
        rec.flush()
        assert rec.counts == {"samples": 5000, "logs": 5000, "events": 1}
        assert len(store.samples(sid)) == 5000 and len(store.series(sid)) == 3
        assert [type(e).__name__ for e in store.events(sid)][-1] == "Finished"
        assert rec.failure is None


def test_full_store_error_is_exit_3_and_readonly_is_exit_2(tmp_path: Path) -> None:
    with SessionStore(tmp_path) as store:
        conn = store.writer().conn
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        with pytest.raises(StoreWriteError) as info:
            store.write(lambda c: c.execute("INSERT INTO logs VALUES ('s', 0, 'stdout', 't', ?)", ("x" * 99_999,)))
        assert info.value.exit_code == ExitCode.RUNNER_ERROR
        assert str(info.value).endswith("database or disk is full")
        conn.execute("PRAGMA max_page_count = 1073741823")
    ro = sqlite3.connect(f"file:{tmp_path / 'perflab.db'}?mode=ro", uri=True)
    try:
        ro.execute("DELETE FROM logs")
    except sqlite3.Error as e:
        err = dbfile.write_error(tmp_path / "perflab.db", e, "write", 0.0)
    ro.close()
    assert type(err) is StoreError and err.exit_code == ExitCode.BAD_INPUT and "read-only" in str(err)


def test_engine_tells_the_other_sinks_once_when_a_sink_fails(tmp_path: Path) -> None:
    from perflab.core.engine import Engine
    from perflab.runners.framework.base import RunContext, runner_for

    class Broken:
        error_code = "test.broken"

        def handle(self, event: object) -> None:
            raise RuntimeError("boom")

    class Keep:
        def __init__(self) -> None:
            self.events: list[object] = []

        def handle(self, event: object) -> None:
            self.events.append(event)

    keep = Keep()
    engine = Engine(PROFILE, [Broken(), keep], runner_for=runner_for, context=RunContext, session_id="s",
                    artifacts_dir=tmp_path, monitor=False)
    for i in range(5):
        engine.emit(Sample(i, "x", 1.0))
    notices = [e for e in keep.events if isinstance(e, Notice)]
    assert len(notices) == 1, "once, not per event"
    assert notices[0].level == Level.ERROR and notices[0].code == "test.broken"
    assert "RuntimeError: boom" in notices[0].message
    assert sum(isinstance(e, Sample) for e in keep.events) == 5, "the run goes on"
