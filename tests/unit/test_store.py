"""The SQLite session store: write, read, batches, refusal of corrupt/foreign/newer files (left untouched)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from perflab.core import profiles
from perflab.core.model import (
    Artifact,
    Finished,
    Level,
    Log,
    Metric,
    Notice,
    Phase,
    Result,
    Sample,
    Status,
    SummaryTable,
    Table,
    labels,
)
from perflab.store import schema
from perflab.store.sessions import SessionStore, StoreError

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
            Table(0.25, "top", ("fn", "n"), (("f", 1),)),
            Artifact(0.3, "pytest-benchmark-json", "/x.json", "json"),
            Notice(0.35, Level.WARNING, "noisy hunter2", "x.y"),
            Finished(0.4, Status.PASSED, "done"),
        ]
        for e in events:
            rec.handle(e)
        result = Result(Status.PASSED, "all good hunter2", (Metric("median", 0.001, "s", labels(benchmark="a")),),
                        {"median{benchmark=a}": ((0.001, 0.002), (0.0015,))}, {"k": [1, 2]},
                        (SummaryTable("t", ("a", "b"), (("1", "2"),)),), ("note",))
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
        assert row.result.tables[0].rows == (("1", "2"),)
        back = list(store.events(sid))
        assert [type(e).__name__ for e in back] == [type(e).__name__ for e in events]
        assert [e.t for e in back] == [e.t for e in events]
        assert back[2].line == "token=*** here"  # type: ignore[union-attr]
        assert back[5] == events[5]  # the artifact keeps its kind
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
        result = Result(Status.FAILED, f"server said {secret}", notes=(f"header {secret}", "plain note"))
        store.finish_session(sid, result, 1, 0.2, (secret, ""))
        row = store.get(sid)
        logs = [e.line for e in store.logs(sid)]
    assert row.result is not None
    assert row.message == "server said ***"
    assert row.result.notes == ("header ***", "plain note")
    assert logs == ["Authorization: Bearer ***"]
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("perflab.db*"))  # the WAL file too
    assert b"Bearer ***" in raw or b"server said ***" in raw
    assert b"tok" not in raw
