"""The session database file, shared by threads and processes: who may touch it, and how writes are made.

Invariants, and why they hold:

* **SQLite owns the file.** POSIX drops every fcntl lock a process holds on a file as soon as the process closes
  *any* descriptor of that file. A plain ``open()``/``close()`` of ``perflab.db`` while a connection to it is open in
  this process would silently release that connection's locks; another process could then believe it is the last
  user, checkpoint and delete the WAL under a live writer, and the database is corrupt (SQLite's "How To Corrupt
  An SQLite Database File", section 2.2). So the 100-byte header (magic, truncation) is read with ``open()`` only
  while no connection to that file is open in this process, under the same process-wide lock every ``connect`` and
  ``release`` here takes; once a connection exists the file was already checked, and SQLite's own checks are relied
  on. Connections are only made through :func:`connect` and :func:`acquire_writer`, which count them per real path.
* **One writer connection per process and database file**, shared by every ``SessionStore`` on that file and
  serialised by a re-entrant lock (the app runs its screens and the engine on one loop, and Textual may use
  threads). Two writer connections in one process would only wait on each other's busy timeouts, or deadlock when
  one thread holds a transaction open on one of them.
* **Every write is one short transaction**, begun with ``BEGIN IMMEDIATE`` (the write lock is taken up front, so a
  transaction never has to upgrade a read snapshot and fail with ``SQLITE_BUSY_SNAPSHOT``), and retried whole on
  ``SQLITE_BUSY`` / "database is locked" with jittered exponential backoff (10 ms doubling to 0.5 s) until a time
  budget (``WRITE_TIMEOUT``, 30 s, unless the caller gives a shorter one). Any failure rolls the transaction back,
  so a batch is stored whole or not at all: nothing is half-written. A write that still fails raises
  :class:`StoreWriteError` (exit 3: the run could not be recorded; disk full, I/O error, a store kept locked) or,
  for a damaged or read-only file, :class:`StoreError` (exit 2).
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from perflab.core.model import ExitCode, PerflabError

SQLITE_MAGIC = b"SQLite format 3\x00"
WRITE_TIMEOUT = 30.0  # seconds a write keeps retrying while another connection holds the write lock
BUSY_SLICE_MS = 100  # SQLite's own busy wait per attempt; the retry loop here does the rest with backoff
_BUSY, _LOCKED, _READONLY, _CORRUPT, _FULL, _NOTADB = 5, 6, 8, 11, 13, 26

T = TypeVar("T")


class StoreError(PerflabError):
    """The store cannot be used as it is (corrupt, foreign, newer, read-only, missing): exit 2."""

    exit_code = ExitCode.BAD_INPUT


class StoreWriteError(StoreError):
    """What a run produced could not be stored (disk full, I/O error, locked past the budget): exit 3."""

    exit_code = ExitCode.RUNNER_ERROR


class StoreBusyError(StoreWriteError):
    """Another connection held the write lock for the whole time budget; retrying later may succeed."""


def _code(e: sqlite3.Error) -> int:
    return int(getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF


def is_busy(e: sqlite3.Error) -> bool:
    msg = str(e).lower()
    return _code(e) in (_BUSY, _LOCKED) or "database is locked" in msg or "database table is locked" in msg


def write_error(path: Path, e: sqlite3.Error, what: str, waited: float) -> StoreError:
    """The one-line error for a failed write: exit 3 unless the file itself is damaged or read-only (exit 2)."""
    code, msg = _code(e), str(e)
    if is_busy(e):
        return StoreBusyError(f"{path}: cannot {what}: the session store stayed locked by another connection "
                              f"for {waited:.0f} s ({msg})")
    if code == _FULL or "disk is full" in msg:
        return StoreWriteError(f"{path}: cannot {what}: database or disk is full")
    if code in (_CORRUPT, _NOTADB) or "malformed" in msg:
        return StoreError(f"{path}: corrupt session store ({msg}); it was left untouched")
    if code == _READONLY or "readonly" in msg:
        return StoreError(f"{path}: permission denied (the session store is read-only)")
    return StoreWriteError(f"{path}: cannot {what}: {msg}")


# ------------------------------------------------------------------ the process-wide registry

_lock = threading.Lock()
_open: dict[str, int] = {}  # real path -> connections open in this process
_writers: dict[str, Writer] = {}


def _key(path: Path) -> str:
    return os.path.realpath(path)


def open_connections(path: Path) -> int:
    """How many connections to ``path`` this process holds (readers and the writer)."""
    with _lock:
        return _open.get(_key(path), 0)


def check_header(path: Path) -> None:
    """Refuse a file that is not an SQLite database or is shorter than its header says (a cut copy, a full disk).

    Opens a descriptor of the file: call only while no connection to it is open in this process (see above)."""
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
                         "move it away to start a new store")
    if head and _truncated(head, size) and not _wal_size(path):
        # with a WAL the file may legitimately be shorter than its header says: a checkpoint cut short by a
        # full disk wrote page 1 but not the pages after it, which the WAL still holds and SQLite replays
        raise StoreError(f"{path}: corrupt session store (the file is truncated); it was left untouched, "
                         "move it away to start a new one")


def _wal_size(path: Path) -> int:
    try:
        return Path(f"{path}-wal").stat().st_size
    except OSError:
        return 0


def _truncated(head: bytes, size: int) -> bool:
    if len(head) < 100:
        return True
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # the in-header size is valid only when "version-valid-for" equals the change counter
    if head[92:96] != head[24:28] or pages == 0:
        return False
    return size < pages * page_size


def connect(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    """A counted connection for reading; the header is checked first when it is the process's first one.

    ``immutable`` opens a file this process may not write (no locks, no -shm). Raises StoreError for a bad
    header, sqlite3.Error when SQLite cannot open the file."""
    key = _key(path)
    with _lock:
        if not _open.get(key) and path.exists():
            check_header(path)
        if immutable:
            conn = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?immutable=1", uri=True,
                                   isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        _open[key] = _open.get(key, 0) + 1
    return conn


def release(path: Path, conn: sqlite3.Connection) -> None:
    """Close a connection made by :func:`connect` (once)."""
    key = _key(path)
    with _lock:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
        _open[key] = max(0, _open.get(key, 0) - 1)


def acquire_writer(path: Path) -> Writer:
    """The process's writer for ``path`` (made on first use); pair with :func:`release_writer`."""
    key = _key(path)
    with _lock:
        w = _writers.get(key)
        if w is None:
            w = _writers[key] = Writer(path)
            _open[key] = _open.get(key, 0) + 1
        w.users += 1
        return w


def release_writer(w: Writer) -> None:
    key = _key(w.path)
    with _lock:
        w.users -= 1
        if w.users > 0 or _writers.get(key) is not w:
            return
        del _writers[key]
        with w.lock, contextlib.suppress(sqlite3.Error):
            w.conn.close()
        _open[key] = max(0, _open.get(key, 0) - 1)


# ------------------------------------------------------------------ the writer


class Writer:
    """The one connection that writes to a database file in this process (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.users = 0
        self.depth = 0  # transactions open on this connection (nested calls join the outer one)
        self.wal = False
        self.conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_SLICE_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_SLICE_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # 64 MiB of page cache: the samples index stays in memory during a batch (ingest ~1.4x faster)
        conn.execute("PRAGMA cache_size = -65536")
        return conn

    def write(self, fn: Callable[[sqlite3.Connection], T], *, timeout: float = WRITE_TIMEOUT,
              what: str = "write to the session store") -> T:
        """Run ``fn(conn)`` in one IMMEDIATE transaction and commit; retried whole on busy within ``timeout``
        seconds. A call made from inside ``fn`` joins the running transaction."""
        start = time.monotonic()
        deadline = start + timeout
        if not self.lock.acquire(timeout=max(timeout, 0.0)):
            raise StoreBusyError(f"{self.path}: cannot {what}: the session store stayed busy in this process "
                                 f"for {timeout:.0f} s")
        try:
            if self.depth:
                return fn(self.conn)
            delay = 0.01
            while True:
                try:
                    return self._transaction(fn)
                except sqlite3.Error as e:
                    if isinstance(e, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
                        raise  # a bug in perflab, not a store condition
                    now = time.monotonic()
                    if is_busy(e) and now + delay < deadline:
                        time.sleep(delay * random.uniform(0.5, 1.0))  # jitter: writers do not retry in step
                        delay = min(delay * 2, 0.5)
                        continue
                    raise write_error(self.path, e, what, now - start) from None
        finally:
            self.lock.release()

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self.conn.in_transaction:  # left open by a failed rollback: never build on it
            self._rollback()
        self.conn.execute("BEGIN IMMEDIATE")
        self.depth += 1
        try:
            out = fn(self.conn)
            self.conn.execute("COMMIT")
            return out
        except BaseException:
            self._rollback()
            raise
        finally:
            self.depth -= 1

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")
        if self.conn.in_transaction:  # the connection cannot end its transaction: replace it
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = self._connect()

    def ensure_wal(self, *, timeout: float = WRITE_TIMEOUT) -> None:
        """Switch the file to WAL (a persistent property; a no-op once set), retried while others hold locks."""
        if self.wal:
            return
        start = time.monotonic()
        delay = 0.01
        with self.lock:
            while True:
                try:
                    mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                except sqlite3.Error as e:
                    if not is_busy(e) or time.monotonic() - start + delay > timeout:
                        raise write_error(self.path, e, "switch the session store to WAL",
                                          time.monotonic() - start) from None
                    mode = None
                if str(mode).lower() == "wal":
                    self.wal = True
                    return
                if time.monotonic() - start + delay > timeout:
                    return  # another process keeps it in rollback mode: correct, only slower
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
