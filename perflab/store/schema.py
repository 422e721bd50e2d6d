"""Format versions and migrations of the session database.

A database whose version is newer than this perflab knows is refused, never touched. An older one is migrated
in a transaction (no older versions exist yet: version 1 is the first).
"""

from __future__ import annotations

SCHEMA_VERSION = 1
APPLICATION_ID = 0x50464C42  # "PFLB", stored in the SQLite header so foreign databases are told apart

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    profile_path TEXT,
    profile_text TEXT NOT NULL,
    test_type TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,          -- wall clock, seconds since the epoch
    ended REAL,
    duration REAL,                  -- seconds
    exit_code INTEGER,
    message TEXT,
    machine TEXT NOT NULL,          -- JSON
    git TEXT,                       -- JSON or NULL
    result TEXT,                    -- JSON
    perflab_version TEXT NOT NULL,
    owner_host TEXT NOT NULL,
    owner_pid INTEGER NOT NULL,
    owner_created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_profile ON sessions (profile, started);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    labels TEXT NOT NULL            -- JSON object, "{}" when none
);
CREATE INDEX IF NOT EXISTS series_by_session ON series (session);
CREATE TABLE IF NOT EXISTS samples (
    series INTEGER NOT NULL,
    t REAL NOT NULL,                -- seconds since session start
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_series ON samples (series, t);
CREATE TABLE IF NOT EXISTS logs (
    session TEXT NOT NULL,
    t REAL NOT NULL,
    stream TEXT NOT NULL,
    source TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_session ON logs (session, t);
CREATE TABLE IF NOT EXISTS events (
    session TEXT NOT NULL,
    t REAL NOT NULL,
    kind TEXT NOT NULL,             -- phase, table, artifact, notice, finished
    data TEXT NOT NULL              -- JSON
);
CREATE INDEX IF NOT EXISTS events_by_session ON events (session, t);
"""

# version -> SQL that migrates from version-1 to version
MIGRATIONS: dict[int, str] = {}
