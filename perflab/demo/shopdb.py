"""Query demo: a small shop database big enough that a missing index matters.

``orders`` has 200,000 rows (5,000 customers, 40 orders each on average) and one secondary index,
``idx_orders_customer`` on ``customer_id``; nothing indexes ``status`` or ``total``. Looking up one customer's
orders is an index search (tens of microseconds); filtering on ``total`` scans all 200,000 rows (milliseconds).

SQLite: :func:`ensure_sqlite` builds the file once (deterministic data, seed 7) in perflab's cache folder
(``$PERFLAB_CACHE`` or ``~/.cache/perflab``) and reuses it; it is written to a temporary name and renamed, so
a half-built file is never used. PostgreSQL: :func:`prepare_postgres` creates the same table in the schema
``perflab_demo`` when it is missing (generated server-side with ``generate_series``).
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VERSION = 1  # bump when the schema or the data change: the cached file name carries it
ORDERS = 200_000
CUSTOMERS = 5_000
STATUSES = ("pending", "paid", "shipped", "delivered", "returned")
SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    status TEXT NOT NULL,
    total REAL NOT NULL,
    created INTEGER NOT NULL
);
"""
INDEXES = "CREATE INDEX idx_orders_customer ON orders(customer_id);"


def cache_dir() -> Path:
    """perflab's cache folder: ``$PERFLAB_CACHE`` or ``~/.cache/perflab``."""
    raw = os.environ.get("PERFLAB_CACHE")
    return Path(raw) if raw else Path.home() / ".cache" / "perflab"


def default_path() -> Path:
    return cache_dir() / f"shop-v{VERSION}.sqlite"


def _rows(seed: int = 7) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    for i in range(1, ORDERS + 1):
        yield (i, rng.randint(1, CUSTOMERS), rng.choice(STATUSES), round(rng.uniform(1, 500), 2),
               1_600_000_000 + i * 60)


def build_sqlite(path: Path, orders: int = ORDERS) -> Path:
    """Write the demo database to ``path`` (replaced atomically); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    try:
        con.executescript(SCHEMA)
        rng = random.Random(3)
        con.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                        ((i, f"customer {i}", rng.choice(("FR", "DE", "US", "JP", "BR")))
                         for i in range(1, CUSTOMERS + 1)))
        rows = _rows()
        con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", (next(rows) for _ in range(orders)))
        con.executescript(INDEXES)
        con.execute("ANALYZE")
        con.commit()
    finally:
        con.close()
    os.replace(tmp, path)
    return path


def ensure_sqlite(path: str | os.PathLike[str] | None = None) -> Path:
    """The demo database, built on first use (a few seconds) and reused afterwards."""
    target = Path(path) if path else default_path()
    if not target.exists():
        build_sqlite(target)
    return target


def customer_ids(n: int = 200, seed: int = 11) -> list[list[int]]:
    """Parameter rows for the indexed lookup: ``n`` random customer ids, one per row."""
    rng = random.Random(seed)
    return [[rng.randint(1, CUSTOMERS)] for _ in range(n)]


PG_SCHEMA = "perflab_demo"


def prepare_postgres(conn: Any) -> None:
    """Create ``perflab_demo.orders`` (same shape and index as SQLite) unless it is already there.

    ``conn`` is a psycopg 3 connection; the data is generated server-side so this takes about a second.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('perflab_demo.orders') IS NOT NULL")
        if cur.fetchone()[0]:
            return
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
        cur.execute(f"""
            CREATE TABLE {PG_SCHEMA}.orders (
                id integer PRIMARY KEY, customer_id integer NOT NULL, status text NOT NULL,
                total numeric(10, 2) NOT NULL, created bigint NOT NULL)""")
        cur.execute(f"""
            INSERT INTO {PG_SCHEMA}.orders
            SELECT i, 1 + (hashint4(i) & 2147483647) % {CUSTOMERS},
                   (ARRAY['pending','paid','shipped','delivered','returned'])[1 + i % 5],
                   round((1 + (hashint4(i + 1) & 2147483647) % 49900 / 100.0)::numeric, 2),
                   1600000000 + i * 60
            FROM generate_series(1, {ORDERS}) AS i""")
        cur.execute(f"CREATE INDEX idx_orders_customer ON {PG_SCHEMA}.orders(customer_id)")
        cur.execute(f"ANALYZE {PG_SCHEMA}.orders")
    conn.commit()
