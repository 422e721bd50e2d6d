"""The SQLite session store (WAL): sessions, series, samples, logs, events, artifacts.

Location: ``.perflab/perflab.db`` under the working directory; ``--store DIR`` or ``PERFLAB_STORE`` override the
folder. Artifacts live in ``<store>/artifacts/<session-id>/``.

Guarantees: samples are committed in batches at least once a second (a killed run loses at most about a
second); a session left ``running`` by a dead process becomes ``crashed`` the next time the store opens; a
corrupt database or one of an unknown version is refused with one line and never modified.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets as _secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import psutil

from perflab import __version__
from perflab.core.codec import event_from_dict, event_to_dict, result_from_dict, result_to_dict
from perflab.core.model import (
    Artifact,
    Event,
    ExitCode,
    Finished,
    Log,
    PerflabError,
    Profile,
    Result,
    Sample,
    Status,
)
from perflab.store import schema

SQLITE_MAGIC = b"SQLite format 3\x00"
ENV_STORE = "PERFLAB_STORE"


class StoreError(PerflabError):
    exit_code = ExitCode.BAD_INPUT


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(fn: Callable[Concatenate[SessionStore, _P], _R]) -> Callable[Concatenate[SessionStore, _P], _R]:
    """Reading a damaged page surfaces late: turn it into the one-line StoreError (exit 2), not a traceback."""

    @functools.wraps(fn)
    def wrapper(self: SessionStore, *args: _P.args, **kw: _P.kwargs) -> _R:
        try:
            return fn(self, *args, **kw)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.db_path}: corrupt session store ({e}); it was left untouched") from None

    return wrapper


def default_root(cli_value: str | None = None) -> Path:
    if cli_value:
        return Path(cli_value)
    env = os.environ.get(ENV_STORE)
    if env:
        return Path(env)
    return Path.cwd() / ".perflab"


def new_session_id() -> str:
    """Sortable and unique without a shared counter: UTC time plus random bits."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + _secrets.token_hex(3)


@dataclass(frozen=True)
class SessionRow:
    id: str
    profile: str
    profile_path: str | None
    profile_text: str
    test_type: str
    target: str
    status: Status
    started: float
    ended: float | None
    duration: float | None
    exit_code: int | None
    message: str | None
    machine: dict[str, Any]
    git: dict[str, Any] | None
    result: Result | None
    perflab_version: str


_COLUMNS = ("id, profile, profile_path, profile_text, test_type, target, status, started, ended, duration, "
            "exit_code, message, machine, git, result, perflab_version")


def _row(r: Sequence[Any]) -> SessionRow:
    return SessionRow(
        id=r[0], profile=r[1], profile_path=r[2], profile_text=r[3], test_type=r[4], target=r[5],
        status=Status(r[6]), started=r[7], ended=r[8], duration=r[9], exit_code=r[10], message=r[11],
        machine=json.loads(r[12]), git=json.loads(r[13]) if r[13] else None,
        result=result_from_dict(json.loads(r[14])) if r[14] else None, perflab_version=r[15],
    )


class SessionStore:
    def __init__(self, root: Path, *, readonly: bool = False) -> None:
        self.root = Path(root)
        self.db_path = self.root / "perflab.db"
        self.artifacts_root = self.root / "artifacts"
        self.readonly = readonly
        self.conn = self._open()

    # ------------------------------------------------------------ opening
    def _open(self) -> sqlite3.Connection:
        path = self.db_path
        uri = None
        if path.exists():
            try:
                with path.open("rb") as fh:
                    head = fh.read(100)
                size = path.stat().st_size
            except PermissionError:
                raise StoreError(f"{path}: permission denied") from None
            except IsADirectoryError:
                raise StoreError(f"{path}: is a folder, not a session store") from None
            if head and head[:16] != SQLITE_MAGIC:
                raise StoreError(f"{path}: not a perflab session store (not an SQLite database); "
                                 "move it away to start a new store") from None
            if head and _truncated(head, size):
                raise StoreError(f"{path}: corrupt session store (the file is truncated); it was left untouched, "
                                 "move it away to start a new one")
            if not os.access(self.root, os.W_OK) or not os.access(path, os.W_OK):
                if not self.readonly:
                    raise StoreError(f"{self.root}: permission denied (the session store is read-only)")
                # reading a WAL database needs its -shm file; without write access, read it as immutable
                uri = f"file:{path}?immutable=1"
        elif self.readonly:
            raise StoreError(f"{path}: no session store here (run a profile first, or pass --store)")
        else:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except PermissionError:
                raise StoreError(f"{self.root}: permission denied (cannot create the session store)") from None
            except OSError as e:
                raise StoreError(f"{self.root}: cannot create the session store: {e.strerror}") from None
            if not os.access(self.root, os.W_OK):
                raise StoreError(f"{self.root}: permission denied (cannot create the session store)")
        try:
            if uri is not None:
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            version, app_id = self._version(conn)
        except sqlite3.OperationalError as e:
            if "unable to open" in str(e):
                raise StoreError(f"{path}: cannot open the session store ({e}); check the folder's permissions") \
                    from None
            raise StoreError(f"{path}: corrupt session store ({e}); it was left untouched, "
                             "move it away to start a new one") from None
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path}: corrupt session store ({e}); it was left untouched, "
                             "move it away to start a new one") from None
        if version is None:
            if app_id not in (0, schema.APPLICATION_ID):
                conn.close()
                raise StoreError(f"{path}: an SQLite database that is not a perflab session store; "
                                 "it was left untouched")
            if self._has_tables(conn):
                conn.close()
                raise StoreError(f"{path}: an SQLite database without a perflab schema version; "
                                 "it was left untouched")
            if self.readonly:
                conn.close()
                raise StoreError(f"{path}: empty session store")
            self._create(conn)
        elif version > schema.SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path}: session store format {version} is newer than this perflab supports "
                             f"({schema.SCHEMA_VERSION}); upgrade perflab. The file was left untouched")
        elif version < schema.SCHEMA_VERSION:
            self._migrate(conn, version)
        try:
            if not self.readonly:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # 64 MiB of page cache: the samples index stays in memory during a batch (ingest ~1.4x faster)
            conn.execute("PRAGMA cache_size = -65536")
            # touch every table once so a damaged file is refused here, not halfway through a command
            for table in ("meta", "sessions", "series", "samples", "logs", "events"):
                conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
            if uri is None:  # even a reader (perflab sessions) marks dead runs, so it never lists them "running"
                self._mark_crashed(conn)
        except sqlite3.OperationalError as e:
            conn.close()
            if "readonly" in str(e) or "read-only" in str(e):
                raise StoreError(f"{path}: permission denied (the session store is read-only)") from None
            raise StoreError(f"{path}: cannot use the session store: {e}") from None
        except sqlite3.DatabaseError as e:
            conn.close()
            raise StoreError(f"{path}: corrupt session store ({e}); it was left untouched") from None
        return conn

    @staticmethod
    def _version(conn: sqlite3.Connection) -> tuple[int | None, int]:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return None, app_id
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            raise sqlite3.DatabaseError("meta table without schema_version")
        try:
            return int(row[0]), app_id
        except ValueError:
            raise sqlite3.DatabaseError(f"bad schema_version {row[0]!r}") from None

    @staticmethod
    def _has_tables(conn: sqlite3.Connection) -> bool:
        return conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0] > 0

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN")
            for stmt in schema.DDL.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(schema.SCHEMA_VERSION),))
            conn.execute("INSERT INTO meta (key, value) VALUES ('created_by', ?)", (f"perflab {__version__}",))
            conn.execute("COMMIT")
            conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        except sqlite3.OperationalError as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot create the session store: {e}") from None

    @staticmethod
    def _migrate(conn: sqlite3.Connection, version: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        for v in range(version + 1, schema.SCHEMA_VERSION + 1):
            conn.executescript(schema.MIGRATIONS[v])
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(schema.SCHEMA_VERSION),))
        conn.execute("COMMIT")

    @staticmethod
    def _mark_crashed(conn: sqlite3.Connection) -> None:
        host = socket.gethostname()
        rows = conn.execute(
            "SELECT id, owner_host, owner_pid, owner_created FROM sessions WHERE status='running'").fetchall()
        for sid, owner_host, pid, created in rows:
            if owner_host == host and _alive(pid, created):
                continue  # another perflab is running it right now
            conn.execute("UPDATE sessions SET status='crashed', message=coalesce(message, ?) WHERE id=?",
                         ("the perflab process recording this session died", sid))

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writing
    def create_session(self, profile: Profile, *, machine: dict[str, Any], git: dict[str, Any] | None,
                       session_id: str | None = None, started: float | None = None) -> str:
        sid = session_id or new_session_id()
        me = psutil.Process()
        self.conn.execute(
            "INSERT INTO sessions (id, profile, profile_path, profile_text, test_type, target, status, started, "
            "machine, git, perflab_version, owner_host, owner_pid, owner_created) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (sid, profile.name, profile.path, profile.text, profile.test.type, profile.target.describe(),
             Status.RUNNING.value, started or time.time(), json.dumps(machine), json.dumps(git) if git else None,
             __version__, socket.gethostname(), me.pid, me.create_time()),
        )
        return sid

    def finish_session(self, sid: str, result: Result, exit_code: int, duration: float,
                       redact: tuple[str, ...] = ()) -> None:
        doc = json.dumps(result_to_dict(result), default=str)
        message = result.message
        for secret in redact:
            if not secret:  # an unset variable: replacing "" would splice *** between every character
                continue
            doc = doc.replace(json.dumps(secret)[1:-1], "***").replace(secret, "***")
            message = message.replace(secret, "***")
        self.conn.execute(
            "UPDATE sessions SET status=?, ended=?, duration=?, exit_code=?, message=?, result=? WHERE id=?",
            (result.status.value, time.time(), duration, exit_code, message, doc, sid),
        )

    def recorder(self, sid: str, secrets: Sequence[str] = (), flush_interval: float = 0.5) -> Recorder:
        return Recorder(self, sid, secrets, flush_interval)

    def artifacts_dir(self, sid: str) -> Path:
        return self.artifacts_root / sid

    def delete(self, sid: str) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        c.execute("DELETE FROM samples WHERE series IN (SELECT id FROM series WHERE session=?)", (sid,))
        for table in ("series", "logs", "events"):
            c.execute(f"DELETE FROM {table} WHERE session=?", (sid,))
        c.execute("DELETE FROM sessions WHERE id=?", (sid,))
        c.execute("COMMIT")
        art = self.artifacts_dir(sid)
        if art.is_dir():
            import shutil

            shutil.rmtree(art, ignore_errors=True)

    # ------------------------------------------------------------ reading
    @_guarded
    def sessions(self, *, profile: str | None = None, test_type: str | None = None, status: str | None = None,
                 since: float | None = None, limit: int | None = None) -> list[SessionRow]:
        where: list[str] = []
        args: list[Any] = []
        for col, val in (("profile", profile), ("test_type", test_type), ("status", status)):
            if val:
                where.append(f"{col} = ?")
                args.append(val)
        if since is not None:
            where.append("started >= ?")
            args.append(since)
        sql = f"SELECT {_COLUMNS} FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_row(r) for r in self.conn.execute(sql, args)]

    @_guarded
    def resolve(self, ref: str) -> str:
        """A full id from an id, a unique prefix, or ``last``."""
        if ref in ("last", "latest"):
            row = self.conn.execute("SELECT id FROM sessions ORDER BY started DESC, id DESC LIMIT 1").fetchone()
            if row is None:
                raise StoreError("no sessions stored yet")
            return str(row[0])
        rows = self.conn.execute("SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' LIMIT 3",
                                 (ref.replace("%", "\\%").replace("_", "\\_") + "%",)).fetchall()
        if not rows:
            # the id may be a suffix (the random part is what people copy)
            rows = self.conn.execute("SELECT id FROM sessions WHERE id LIKE ? LIMIT 3", ("%" + ref,)).fetchall()
        if not rows:
            raise StoreError(f"no session {ref!r} in {self.db_path}")
        if len(rows) > 1:
            raise StoreError(f"session {ref!r} is ambiguous: " + ", ".join(r[0] for r in rows) + ", ...")
        return str(rows[0][0])

    @_guarded
    def get(self, ref: str) -> SessionRow:
        sid = self.resolve(ref)
        return _row(self.conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id=?", (sid,)).fetchone())

    @_guarded
    def series(self, sid: str) -> list[tuple[int, str, dict[str, str]]]:
        return [(r[0], r[1], json.loads(r[2])) for r in
                self.conn.execute("SELECT id, name, labels FROM series WHERE session=? ORDER BY id", (sid,))]

    @_guarded
    def samples(self, sid: str, name: str | None = None) -> list[Sample]:
        sql = ("SELECT s.t, r.name, s.value, r.labels FROM samples s JOIN series r ON s.series = r.id "
               "WHERE r.session=?")
        args: list[Any] = [sid]
        if name:
            sql += " AND r.name=?"
            args.append(name)
        sql += " ORDER BY s.t"
        return [Sample(t, n, v, tuple(sorted(json.loads(lb).items()))) for t, n, v, lb in
                self.conn.execute(sql, args)]

    @_guarded
    def logs(self, sid: str, tail: int | None = None) -> list[Log]:
        rows = self.conn.execute("SELECT t, line, stream, source FROM logs WHERE session=? ORDER BY t, rowid",
                                 (sid,)).fetchall()
        if tail:
            rows = rows[-tail:]
        return [Log(*r) for r in rows]

    @_guarded
    def other_events(self, sid: str) -> list[Event]:
        return [event_from_dict(json.loads(d)) for (d,) in
                self.conn.execute("SELECT data FROM events WHERE session=? ORDER BY t, rowid", (sid,))]

    def artifacts(self, sid: str) -> list[Artifact]:
        return [e for e in self.other_events(sid) if isinstance(e, Artifact)]

    def events(self, sid: str) -> Iterator[Event]:
        """Every stored event of a session in time order (samples, logs and the rest merged)."""
        import heapq

        def keyed(events: Sequence[Event], rank: int) -> Iterator[tuple[float, int, int, Event]]:
            return ((e.t, rank, i, e) for i, e in enumerate(events))

        for item in heapq.merge(keyed(self.samples(sid), 0), keyed(self.logs(sid), 1),
                                keyed(self.other_events(sid), 2)):
            yield item[3]


def _alive(pid: int, created: float) -> bool:
    """Whether the process that created a session still runs (a zombie is dead: it only awaits reaping)."""
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - created) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _truncated(head: bytes, size: int) -> bool:
    """Whether an SQLite file is shorter than its header says (a cut copy, a full disk)."""
    if len(head) < 100:
        return True
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # the in-header size is valid only when "version-valid-for" equals the change counter
    if head[92:96] != head[24:28] or pages == 0:
        return False
    return size < pages * page_size


class Recorder:
    """A sink that writes a session's events in batches (at least once per ``flush_interval`` seconds)."""

    def __init__(self, store: SessionStore, sid: str, secrets: Sequence[str], flush_interval: float) -> None:
        self.store = store
        self.sid = sid
        self.secrets = tuple(s for s in secrets if s)
        self.flush_interval = flush_interval
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._samples: list[tuple[int, float, float]] = []
        self._logs: list[tuple[str, float, str, str, str]] = []
        self._events: list[tuple[str, float, str, str]] = []
        self._last_flush = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self.written = 0

    def _redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def _series_id(self, name: str, lbls: tuple[tuple[str, str], ...]) -> int:
        key = (name, lbls)
        sid = self._series.get(key)
        if sid is None:
            cur = self.store.conn.execute("INSERT INTO series (session, name, labels) VALUES (?,?,?)",
                                          (self.sid, name, json.dumps(dict(lbls))))
            sid = self._series[key] = int(cur.lastrowid or 0)
        return sid

    def handle(self, event: Event) -> None:
        if isinstance(event, Sample):
            self._samples.append((self._series_id(event.series, event.labels), event.t, event.value))
        elif isinstance(event, Log):
            self._logs.append((self.sid, event.t, event.stream, event.source, self._redact(event.line)))
        else:
            doc = json.dumps(event_to_dict(event), default=str)
            self._events.append((self.sid, event.t, type(event).__name__.lower(), self._redact(doc)))
        if isinstance(event, Finished) or time.monotonic() - self._last_flush >= self.flush_interval \
                or len(self._samples) >= 100_000:
            self.flush()
        elif self._timer is None:
            # a quiet spell must not leave the last events unwritten: flush on a timer as well
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(self.flush_interval, self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        with contextlib.suppress(sqlite3.Error):
            self.flush()

    def add_samples(self, rows: Sequence[tuple[str, tuple[tuple[str, str], ...], float, float]]) -> None:
        """Bulk path: (series, labels, t, value) rows, for importers and benchmarks."""
        self._samples.extend((self._series_id(n, lb), t, v) for n, lb, t, v in rows)

    def flush(self) -> None:
        """Commit everything buffered, in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last_flush = time.monotonic()
        if not (self._samples or self._logs or self._events):
            return
        c = self.store.conn
        c.execute("BEGIN")
        try:
            if self._samples:
                c.executemany("INSERT INTO samples (series, t, value) VALUES (?,?,?)", self._samples)
            if self._logs:
                c.executemany("INSERT INTO logs (session, t, stream, source, line) VALUES (?,?,?,?,?)",
                              self._logs)
            if self._events:
                c.executemany("INSERT INTO events (session, t, kind, data) VALUES (?,?,?,?)", self._events)
            c.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            raise
        self.written += len(self._samples) + len(self._logs) + len(self._events)
        self._samples, self._logs, self._events = [], [], []
