"""Opening a session store: refuse what is not a perflab store of a known version, create or migrate one, and
mark sessions whose owner is verifiably dead as ``crashed``.

A file that is refused (not SQLite, truncated, foreign, newer, damaged) is never written: every check here reads,
and the first write (creating the schema, switching to WAL) happens only after the file is known to be an empty
database or a perflab store of this version. A new store is built under a temporary name and hard-linked into
place whole, so concurrent first runs and readers never meet a half-made file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from perflab import __version__
from perflab.store import dbfile, owners, schema
from perflab.store.dbfile import StoreBusyError, StoreError, StoreWriteError

if TYPE_CHECKING:
    from perflab.store.sessions import SessionStore


def connect(store: SessionStore) -> sqlite3.Connection:
    """The store's reading connection, after the checks that need no SQLite (missing, folder, permissions)."""
    path = store.db_path
    if path.exists():
        if path.is_dir():
            raise StoreError(f"{path}: is a folder, not a session store")
        if not os.access(store.root, os.W_OK) or not os.access(path, os.W_OK):
            if not store.readonly:
                raise StoreError(f"{store.root}: permission denied (the session store is read-only)")
            # reading a WAL database needs its -shm file; without write access, read it as immutable
            store.immutable = True
    elif store.readonly:
        raise StoreError(f"{path}: no session store here (run a profile first, or pass --store)")
    else:
        try:
            store.root.mkdir(parents=True, exist_ok=True)
        except PermissionError:
            raise StoreError(f"{store.root}: permission denied (cannot create the session store)") from None
        except OSError as e:
            raise StoreError(f"{store.root}: cannot create the session store: {e.strerror}") from None
        if not os.access(store.root, os.W_OK):
            raise StoreError(f"{store.root}: permission denied (cannot create the session store)")
        create_file(path)
    try:
        return dbfile.connect(path, immutable=store.immutable)  # checks the header when it is safe to
    except sqlite3.Error as e:
        if "unable to open" in str(e):
            raise StoreError(f"{path}: cannot open the session store ({e}); check the folder's permissions") \
                from None
        raise StoreError(f"{path}: corrupt session store ({e}); it was left untouched, "
                         "move it away to start a new one") from None


def create_file(path: Path) -> None:
    """Build a new store beside ``path`` and hard-link it into place, so that no reader ever sees a half-made one
    and nothing half-made is left by a full disk; when another process got there first, its file wins. Where hard
    links are not supported the store is created in place by ``prepare`` instead."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.new")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            create(conn)
            conn.execute("COMMIT")  # a rollback journal: the schema is in the file itself when it is linked
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):  # another process created it meanwhile: use that one
            os.link(tmp, path)
    except sqlite3.Error as e:
        raise dbfile.write_error(path, e, "create the session store", 0.0) from None
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise StoreWriteError(f"{path}: cannot create the session store: database or disk is full") from None
        # no hard links here (some network or FAT file systems): prepare() creates the schema in place
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{tmp}{suffix}")


def prepare(store: SessionStore) -> None:
    """Refuse what is not a perflab store of a known version; create or migrate; mark dead runs crashed."""
    path, conn = store.db_path, store.conn
    try:
        version, app_id = version_of(conn)
        if version is None:
            if app_id not in (0, schema.APPLICATION_ID):
                raise StoreError(f"{path}: an SQLite database that is not a perflab session store; "
                                 "it was left untouched")
            if has_tables(conn):
                raise StoreError(f"{path}: an SQLite database without a perflab schema version; "
                                 "it was left untouched")
            if store.readonly:
                raise StoreError(f"{path}: empty session store")
            store.writer().ensure_wal()  # before the first table: readers never wait on the creation
            store.write(create, what="create the session store")
        elif version > schema.SCHEMA_VERSION:
            raise StoreError(f"{path}: session store format {version} is newer than this perflab supports "
                             f"({schema.SCHEMA_VERSION}); upgrade perflab. The file was left untouched")
        elif version < schema.SCHEMA_VERSION:
            store.write(migrate, what="migrate the session store")
        if not store.readonly:
            store.writer().ensure_wal()
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: replays read whole series
        # touch every table once so a damaged file is refused here, not halfway through a command
        for table in ("meta", "sessions", "series", "samples", "logs", "events"):
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
        if not store.immutable:  # even a reader (perflab sessions) marks dead runs, so it never lists them
            mark_crashed(store)
    except sqlite3.DatabaseError as e:
        if dbfile.is_busy(e):
            raise StoreBusyError(f"{path}: the session store stayed locked by another process ({e})") from None
        if "readonly" in str(e) or "read-only" in str(e):
            raise StoreError(f"{path}: permission denied (the session store is read-only)") from None
        raise StoreError(f"{path}: corrupt session store ({e}); it was left untouched, "
                         "move it away to start a new one") from None


def version_of(conn: sqlite3.Connection) -> tuple[int | None, int]:
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


def has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0] > 0


def create(c: sqlite3.Connection) -> None:
    """Inside the writer's transaction: another process may have created the schema meanwhile."""
    if c.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
        return
    for stmt in schema.DDL.split(";"):
        if stmt.strip():
            c.execute(stmt)
    c.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(schema.SCHEMA_VERSION),))
    c.execute("INSERT INTO meta (key, value) VALUES ('created_by', ?)", (f"perflab {__version__}",))
    c.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")


def migrate(c: sqlite3.Connection) -> None:
    """Inside the writer's transaction, from the version found there (another process may have migrated)."""
    version, _ = version_of(c)
    if version is None or version >= schema.SCHEMA_VERSION:
        return
    for v in range(version + 1, schema.SCHEMA_VERSION + 1):
        for stmt in schema.MIGRATIONS[v].split(";"):  # not executescript: it would commit mid-transaction
            if stmt.strip():
                c.execute(stmt)
    c.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(schema.SCHEMA_VERSION),))


def mark_crashed(store: SessionStore) -> None:
    """Mark ``running`` sessions whose owner is verifiably dead (store.owners) as ``crashed``; best effort:
    a store that cannot be written now is marked by a later open."""
    rows = store.conn.execute(
        "SELECT id, owner_host, owner_pid, owner_created FROM sessions WHERE status='running'").fetchall()
    dead = [sid for sid, host, pid, created in rows if owners.is_dead(store.locks_dir, sid, host, pid, created)]
    if not dead:
        return

    def mark(c: sqlite3.Connection) -> None:
        for sid in dead:  # "running" still: an owner that finished meanwhile keeps its status
            c.execute("UPDATE sessions SET status='crashed', message=coalesce(message, ?) "
                      "WHERE id=? AND status='running'", ("the perflab process recording this session died", sid))

    try:
        store.write(mark, timeout=5.0, what="mark dead sessions crashed")
    except StoreError:
        return
    for sid in dead:
        owners.discard(store.locks_dir, sid)
