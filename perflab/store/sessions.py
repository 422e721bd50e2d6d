"""The SQLite session store (WAL): sessions, series, samples, logs, events, artifacts.

Location: ``.perflab/perflab.db`` under the working directory; ``--store DIR`` or ``PERFLAB_STORE`` override the
folder. Artifacts live in ``<store>/artifacts/<session-id>/``.

Invariants (what is guaranteed, and why):

* **Never corrupted by perflab.** Several perflab processes (runs, the app, ``perflab sessions``, replays) and
  several ``SessionStore`` objects in one process may use one store at once. No descriptor of the database file is
  opened outside SQLite while a connection to it exists in this process (closing one would drop SQLite's fcntl
  locks); each process has one writer connection per store, shared and serialised; every write is one
  ``BEGIN IMMEDIATE`` transaction retried on ``SQLITE_BUSY`` with backoff for up to 30 s (``store.dbfile``).
* **Batches, whole or not at all.** A recorder commits its buffered events at least every ``flush_interval``
  (0.5 s), series rows and samples in the same transaction, so a killed run loses at most about half a second and a
  failed batch leaves nothing half-written.
* **Never silent.** A batch that cannot be written stays buffered and is retried with backoff; the recorder reports
  the failure (the engine shows it to the front ends as an error Notice, code ``store.write``) and the run goes on.
  If the events still cannot be stored at the end, the run ends with exit 3 and one line, and its session is marked
  ``error`` when that row can still be written (``lab.session.run_session``).
* **Crashed means dead.** A ``running`` session becomes ``crashed`` when the store is next opened only if its owner
  is verifiably dead: the owner holds a ``flock`` on ``<store>/locks/<session>.lock`` for the run's life
  (``store.owners``).
* **Refuse, never repair.** A corrupt, truncated, foreign or newer database is refused with one line (exit 2) and
  never modified; a read-only store stays readable. A new store is built under a temporary name and linked into
  place whole (``store.opening``), so runs starting together and readers never meet a half-made file.
"""

from __future__ import annotations

import functools
import json
import os
import secrets as _secrets
import socket
import sqlite3
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from perflab import __version__
from perflab.core import redact as _redact
from perflab.core.codec import event_from_dict, event_to_dict, result_from_dict, result_to_dict
from perflab.core.model import (
    Artifact,
    Event,
    Finished,
    Log,
    Profile,
    Result,
    Sample,
    Status,
)
from perflab.core.redact import Redactor
from perflab.store import dbfile, opening, owners
from perflab.store.dbfile import WRITE_TIMEOUT, StoreBusyError, StoreError, StoreWriteError

if TYPE_CHECKING:
    import asyncio

ENV_STORE = "PERFLAB_STORE"
READ_RETRY = 30.0  # seconds a read retries while the store is busy (WAL recovery by another process)
PERIODIC_TIMEOUT = 0.25  # seconds a periodic flush may wait for the write lock; it retries later otherwise
REPORT_BUSY_AFTER = 3.0  # seconds events may wait on a busy store before the front ends are told
MIN_BACKOFF, MAX_BACKOFF = 0.5, 5.0  # seconds between retries of a failing store (doubling)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(fn: Callable[Concatenate[SessionStore, _P], _R]) -> Callable[Concatenate[SessionStore, _P], _R]:
    """Reading a damaged page surfaces late: turn it into the one-line StoreError (exit 2), not a traceback.
    A busy store (another process recovering the WAL) is retried for up to READ_RETRY seconds."""

    @functools.wraps(fn)
    def wrapper(self: SessionStore, *args: _P.args, **kw: _P.kwargs) -> _R:
        deadline = time.monotonic() + READ_RETRY
        delay = 0.01
        while True:
            try:
                return fn(self, *args, **kw)
            except sqlite3.DatabaseError as e:
                if dbfile.is_busy(e) and time.monotonic() + delay < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                if dbfile.is_busy(e):
                    raise StoreBusyError(f"{self.db_path}: the session store stayed locked for "
                                         f"{READ_RETRY:.0f} s ({e})") from None
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
    """One store folder. Reads use this object's own connection (``conn``); writes go through the process's shared
    writer (``write``, see ``store.dbfile``). Close it, or use ``with``, to release both."""

    def __init__(self, root: Path, *, readonly: bool = False) -> None:
        self.root = Path(root)
        self.db_path = self.root / "perflab.db"
        self.artifacts_root = self.root / "artifacts"
        self.locks_dir = self.root / "locks"
        self.readonly = readonly
        self.immutable = False  # a file this process may not write: read without locks, never written
        self._writers: list[dbfile.Writer] = []  # the shared writer once this store has needed it
        self.conn = opening.connect(self)
        # released on close(), or when the object is collected unclosed, so the registry's counts stay true
        self._closer = weakref.finalize(self, _close, self.db_path, self.conn, self._writers)
        try:
            opening.prepare(self)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writing
    def writer(self) -> dbfile.Writer:
        """The process's shared writer for this store (acquired on first use, released on close)."""
        if self.immutable:
            raise StoreError(f"{self.db_path}: permission denied (the session store is read-only)")
        if not self._writers:
            try:
                self._writers.append(dbfile.acquire_writer(self.db_path))
            except sqlite3.Error as e:
                raise dbfile.write_error(self.db_path, e, "open the session store for writing", 0.0) from None
        return self._writers[0]

    def write(self, fn: Callable[[sqlite3.Connection], _R], *, timeout: float = WRITE_TIMEOUT,
              what: str = "write to the session store") -> _R:
        """``fn(conn)`` in one transaction of the shared writer, retried on busy for up to ``timeout`` seconds;
        raises StoreWriteError (exit 3) or StoreError (exit 2), with nothing of it written."""
        return self.writer().write(fn, timeout=timeout, what=what)

    def create_session(self, profile: Profile, *, machine: dict[str, Any], git: dict[str, Any] | None,
                       session_id: str | None = None, started: float | None = None) -> str:
        """A new ``running`` session owned by this process (its owner lock is taken before the row exists)."""
        import psutil  # only a run creates sessions: the read-only commands do not load it

        sid = session_id or new_session_id()
        me = psutil.Process()
        row = (sid, profile.name, profile.path, profile.text, profile.test.type, profile.target.describe(),
               Status.RUNNING.value, started or time.time(), json.dumps(machine), json.dumps(git) if git else None,
               __version__, socket.gethostname(), me.pid, me.create_time())
        try:
            owners.claim(self.locks_dir, sid)
        except OSError as e:
            raise StoreWriteError(f"{owners.lock_path(self.locks_dir, sid)}: cannot create the session's lock "
                                  f"file ({e.strerror or e})") from None
        try:
            self.write(lambda c: c.execute(
                "INSERT INTO sessions (id, profile, profile_path, profile_text, test_type, target, status, started, "
                "machine, git, perflab_version, owner_host, owner_pid, owner_created) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row), what="create the session")
        except BaseException:
            owners.release(self.locks_dir, sid)
            raise
        return sid

    def finish_session(self, sid: str, result: Result, exit_code: int, duration: float,
                       redact: tuple[str, ...] = ()) -> None:
        hide = Redactor(redact)  # this session's secrets, on top of the process registry (core.redact)
        doc = _redact.text(hide.text(json.dumps(result_to_dict(result), default=str)))
        message = _redact.text(hide.text(result.message))
        self.write(lambda c: c.execute(
            "UPDATE sessions SET status=?, ended=?, duration=?, exit_code=?, message=?, result=? WHERE id=?",
            (result.status.value, time.time(), duration, exit_code, message, doc, sid),
        ), what="store the session's result")
        owners.release(self.locks_dir, sid)

    def mark_error(self, sid: str, message: str, exit_code: int, duration: float) -> None:
        """End a session as ``error`` with the smallest write there is (no result document), for when storing
        its result failed; raises StoreWriteError when even that cannot be written."""
        self.write(lambda c: c.execute(
            "UPDATE sessions SET status=?, ended=?, duration=?, exit_code=?, message=? WHERE id=?",
            (Status.ERROR.value, time.time(), duration, exit_code, _redact.text(message), sid),
        ), what="mark the session as an error")
        owners.release(self.locks_dir, sid)

    def recorder(self, sid: str, secrets: Sequence[str] = (), flush_interval: float = 0.5) -> Recorder:
        return Recorder(self, sid, secrets, flush_interval)

    def artifacts_dir(self, sid: str) -> Path:
        return self.artifacts_root / sid

    def delete(self, sid: str) -> None:
        def rm(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM samples WHERE series IN (SELECT id FROM series WHERE session=?)", (sid,))
            for table in ("series", "logs", "events"):
                c.execute(f"DELETE FROM {table} WHERE session=?", (sid,))
            c.execute("DELETE FROM sessions WHERE id=?", (sid,))

        self.write(rm, what="delete the session")
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


def _close(path: Path, conn: sqlite3.Connection, writers: list[dbfile.Writer]) -> None:
    for w in writers:
        dbfile.release_writer(w)
    writers.clear()
    dbfile.release(path, conn)


SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
_first, _second = itemgetter(0), itemgetter(1)


class Recorder:
    """A sink that writes a session's events in batches (at least once per ``flush_interval`` seconds).

    A batch is one transaction: its new series rows, samples, logs and other events are stored together or not at
    all. A batch that cannot be written stays buffered and is retried, MIN_BACKOFF (or ``flush_interval``)
    doubling up to MAX_BACKOFF seconds apart; a periodic attempt waits at most PERIODIC_TIMEOUT seconds for the
    write lock, so the engine's loop is never held up for long. Failures are reported through ``on_error`` (the
    engine tells the front ends, once, code ``store.write``): at once for a failing store (disk full, I/O error),
    after REPORT_BUSY_AFTER seconds for one that is only busy; without ``on_error``, ``handle`` raises them.
    ``flush()`` retries for up to 30 s and raises StoreWriteError if the events still cannot be stored. ``counts``
    holds what was committed, per kind."""

    error_code = "store.write"

    def __init__(self, store: SessionStore, sid: str, secrets: Sequence[str], flush_interval: float) -> None:
        self.store = store
        self.sid = sid
        self.secrets = tuple(s for s in secrets if s)
        self._hide = Redactor(self.secrets)
        self.flush_interval = flush_interval
        self._series: dict[SeriesKey, int] = {}  # committed series rows of this session
        # buffered samples grouped by series: one dict lookup per sample, and each series' rows go into the
        # (series, t) index together
        self._samples: dict[SeriesKey, list[tuple[float, float]]] = {}
        self._n_samples = 0
        self._logs: list[tuple[str, float, str, str, str]] = []
        self._events: list[tuple[str, float, str, str]] = []
        self._last_flush = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self.written = 0
        self.counts = {"samples": 0, "logs": 0, "events": 0}
        self.on_error: Callable[[StoreError], None] | None = None
        self.failure: StoreError | None = None  # the last failed write, None once a batch is stored again
        self._failing_since: float | None = None
        self._retry_at = 0.0
        self._backoff = max(flush_interval, MIN_BACKOFF)

    def _redact(self, text: str) -> str:
        return _redact.text(self._hide.text(text))

    def handle(self, event: Event) -> None:
        if isinstance(event, Sample):
            rows = self._samples.get((event.series, event.labels))
            if rows is None:
                rows = self._samples[(event.series, event.labels)] = []
            rows.append((event.t, event.value))
            self._n_samples += 1
        elif isinstance(event, Log):
            self._logs.append((self.sid, event.t, event.stream, event.source, self._redact(event.line)))
        else:
            doc = json.dumps(event_to_dict(event), default=str)
            self._events.append((self.sid, event.t, type(event).__name__.lower(), self._redact(doc)))
        if isinstance(event, Finished) or time.monotonic() - self._last_flush >= self.flush_interval \
                or self._n_samples >= 100_000:
            self._attempt(raise_errors=self.on_error is None)
        elif self._timer is None:
            self._schedule(self.flush_interval)  # a quiet spell must not leave the last events unwritten

    @property
    def pending(self) -> int:
        """Events buffered and not yet stored."""
        return self._n_samples + len(self._logs) + len(self._events)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            return
        aio = sys.modules.get("asyncio")  # not imported: no loop can be running (the read-only commands)
        if aio is None:
            return
        try:
            loop = aio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(max(delay, 0.0), self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        self._attempt(raise_errors=False)

    def _attempt(self, *, raise_errors: bool) -> None:
        now = time.monotonic()
        if now < self._retry_at:  # backing off after a failure
            self._schedule(self._retry_at - now)
            return
        try:
            self.flush(timeout=PERIODIC_TIMEOUT)
        except StoreError as e:
            self._failed(e, raise_errors)

    def _failed(self, e: StoreError, raise_errors: bool) -> None:
        now = time.monotonic()
        self.failure = e
        if self._failing_since is None:
            self._failing_since = now
        self._retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
        self._schedule(self._retry_at - now)
        waited = now - self._failing_since
        if isinstance(e, StoreBusyError):
            if waited < REPORT_BUSY_AFTER:
                return  # a busy store frees within moments as a rule: only a long wait is worth a word
            e = StoreBusyError(f"{self.store.db_path}: the session store has been locked by another connection "
                               f"for {waited:.0f} s")
        err = type(e)(f"{e}; the run goes on, its events are kept and retried")
        if self.on_error is not None:
            self.on_error(err)
        elif raise_errors:
            raise err

    def add_samples(self, rows: Sequence[tuple[str, tuple[tuple[str, str], ...], float, float]]) -> None:
        """Bulk path: (series, labels, t, value) rows, for importers and benchmarks."""
        buffered = self._samples
        for n, lb, t, v in rows:
            key = (n, lb)
            got = buffered.get(key)
            if got is None:
                got = buffered[key] = []
            got.append((t, v))
        self._n_samples += len(rows)

    def flush(self, timeout: float = WRITE_TIMEOUT) -> None:
        """Commit everything buffered in one transaction, retried on busy for up to ``timeout`` seconds. On failure
        nothing of it is written, all of it stays buffered, and StoreWriteError (or StoreError) is raised."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last_flush = time.monotonic()
        if not (self._n_samples or self._logs or self._events):
            return
        samples, logs, events, known = self._samples, self._logs, self._events, self._series
        n_samples = self._n_samples

        def write(c: sqlite3.Connection) -> dict[SeriesKey, int]:
            ids = dict(known)  # adopted only once the transaction commits
            for key, rows in samples.items():
                series = ids.get(key)
                if series is None:
                    name, lbls = key
                    cur = c.execute("INSERT INTO series (session, name, labels) VALUES (?,?,?)",
                                    (self.sid, name, self._redact(json.dumps(dict(lbls)))))
                    series = ids[key] = int(cur.lastrowid or 0)
                # (series, t, value) rows made by C iterators: no Python frame per sample
                c.executemany("INSERT INTO samples (series, t, value) VALUES (?,?,?)",
                              zip(repeat(series), map(_first, rows), map(_second, rows)))
            if logs:
                c.executemany("INSERT INTO logs (session, t, stream, source, line) VALUES (?,?,?,?,?)", logs)
            if events:
                c.executemany("INSERT INTO events (session, t, kind, data) VALUES (?,?,?,?)", events)
            return ids

        self._series = self.store.write(write, timeout=timeout, what="store the session's events")
        self.counts["samples"] += n_samples
        self.counts["logs"] += len(logs)
        self.counts["events"] += len(events)
        self.written += n_samples + len(logs) + len(events)
        self._samples, self._n_samples, self._logs, self._events = {}, 0, [], []
        self.failure, self._failing_since, self._retry_at = None, None, 0.0
        self._backoff = max(self.flush_interval, MIN_BACKOFF)
