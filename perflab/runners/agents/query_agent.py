"""The query agent, run inside the child: ``python -m perflab.runners.agents.query_agent CONFIG``.

It opens the database with its maintained driver (sqlite3, psycopg 3), captures each statement's plan,
warms up, then times ``executions`` executions on each of ``connections`` connections (one thread each;
both drivers release the GIL while the database works). Records (field ``k``):

- ``connected``: engine, server version, where (never the DSN itself);
- ``indexes``: the names of every user index in the database (after ``setup``);
- ``plan``: statement name, plan rows or JSON, indexes used, full scans with the table's row count;
- ``lat``: twice a second while a statement is timed, the latencies (s) completed since the last batch
  (thinned to 200) and how many executions are done;
- ``stmt``: statement name, latencies (s, one per execution), elapsed (s), rows returned;
- ``error``: stage (connect, setup, sql, params), statement name, the database's message, host and port.

Imports only the wire format, the standard library, the drivers and the user's code.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from perflab.runners.agents import wire

_SQLITE_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\S+)")
_SQLITE_SCAN = re.compile(r"^SCAN (\S+)")
_ALIAS = re.compile(r"\b(?:FROM|JOIN)\s+([\w.\"]+)(?:\s+(?:AS\s+)?(\w+))?", re.I)
_PG_FULL = ("Seq Scan", "Parallel Seq Scan")


class Fault(Exception):
    """A problem to report as one ``error`` record."""

    def __init__(self, stage: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.stage = stage
        self.extra = extra


# ------------------------------------------------------------------ connections


def pg_where(dsn: str) -> dict[str, str]:
    """host, port and dbname of a DSN (libpq defaults filled in); never the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(dsn)
    except Exception:
        return {"host": "?", "port": "?", "dbname": "?"}
    return {"host": str(info.get("host") or os.environ.get("PGHOST") or "localhost"),
            "port": str(info.get("port") or os.environ.get("PGPORT") or "5432"),
            "dbname": str(info.get("dbname") or os.environ.get("PGDATABASE") or "")}


class Database:
    """Opens connections of one engine and knows its plan format."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.engine = cfg["engine"]
        self.large = int(cfg["large_table"])
        self._sizes: dict[str, int | None] = {}
        if self.engine == "sqlite":
            path = cfg["database"]
            if path == "demo:shop":
                from perflab.demo import shopdb  # the demo is the "user's code" here

                path = str(shopdb.ensure_sqlite())
            self.path = path
            self.where = {"database": path}
        else:
            self.dsn = os.environ.get(cfg["dsn_env"], "")
            self.where = pg_where(self.dsn)

    def connect(self) -> Any:
        if self.engine == "sqlite":
            try:
                # mode=rw: a mistyped path must fail, not create an empty database
                return sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, check_same_thread=False)
            except sqlite3.Error as e:
                raise Fault("connect", f"cannot open SQLite database {self.path}: {e}") from None
        import psycopg

        try:
            return psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
        except psycopg.Error as e:
            w = self.where
            # libpq: 'connection failed: connection to server at "h", port p failed: REASON' + a hint line
            lines = [x.strip() for x in str(e).strip().splitlines() if x.strip()] or [type(e).__name__]
            reason = lines[0].rsplit("failed:", 1)[-1].strip() or lines[0]
            hint = f" ({lines[1][0].lower()}{lines[1][1:]})" if len(lines) > 1 else ""
            raise Fault("connect", f"cannot connect to PostgreSQL at {w['host']}:{w['port']}: {reason}{hint}",
                        host=w["host"], port=w["port"]) from None

    def errors(self) -> tuple[type[BaseException], ...]:
        if self.engine == "sqlite":
            return (sqlite3.Error,)
        import psycopg

        return (psycopg.Error,)

    def index_names(self, con: Any) -> list[str]:
        """Every user index in the database (so an unused one can be reported as such); at most 1,000."""
        if self.engine == "sqlite":
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'index' LIMIT 1000").fetchall()
        else:
            with con.cursor() as cur:
                cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', "
                            "'information_schema') LIMIT 1000")
                rows = cur.fetchall()
        return sorted({str(r[0]) for r in rows})

    def version(self, con: Any) -> str:
        if self.engine == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}"
        return f"PostgreSQL {con.info.server_version // 10000}.{con.info.server_version % 10000}"

    # -- plans
    def plan(self, con: Any, sql: str, params: Any) -> dict[str, Any]:
        if self.engine == "sqlite":
            rows = con.execute("EXPLAIN QUERY PLAN " + sql, *([params] if params else [])).fetchall()
            return self._sqlite_plan(con, sql, [str(r[3]) for r in rows])
        # ANALYZE runs the statement: inside a transaction that is rolled back, so DML changes nothing
        with con.transaction(force_rollback=True), con.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params or None)
            doc = cur.fetchone()[0]
        return self._pg_plan(con, doc)

    def _sqlite_plan(self, con: Any, sql: str, details: list[str]) -> dict[str, Any]:
        tables = {r[0].lower(): r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        aliases = {}
        for m in _ALIAS.finditer(sql):
            if m.group(2):
                aliases[m.group(2).lower()] = m.group(1).strip('"')
        indexes, scans = [], []
        for d in details:
            indexes += [m.group(1) for m in _SQLITE_INDEX.finditer(d)]
            if "INTEGER PRIMARY KEY" in d and d.startswith("SEARCH"):
                indexes.append("PRIMARY KEY")
            scan = _SQLITE_SCAN.match(d)
            if scan:
                name = scan.group(1)
                table = tables.get(name.lower()) or tables.get(aliases.get(name.lower(), "").lower())
                if table is None:
                    continue  # a subquery, CTE or constant row
                rows = self._sqlite_rows(con, table)
                scans.append({"table": table, "rows": rows, "detail": d,
                              "large": rows is not None and rows >= self.large})
        return {"format": "sqlite", "plan": details, "indexes": sorted(set(indexes)), "scans": scans}

    def _sqlite_rows(self, con: Any, table: str) -> int | None:
        if table not in self._sizes:
            try:
                self._sizes[table] = int(con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            except sqlite3.Error:
                self._sizes[table] = None
        return self._sizes[table]

    def _pg_plan(self, con: Any, doc: Any) -> dict[str, Any]:
        if isinstance(doc, str):
            doc = json.loads(doc)
        top = doc[0]
        indexes, scans = [], []

        def walk(node: dict[str, Any]) -> None:
            kind = node.get("Node Type", "")
            if node.get("Index Name"):
                indexes.append(node["Index Name"])
            if kind in _PG_FULL and node.get("Relation Name"):
                rel = node["Relation Name"]
                # rows read = returned + filtered out, per loop (ANALYZE); the catalogue's estimate covers
                # a plan that stopped early (LIMIT)
                loops = max(1, int(node.get("Actual Loops") or 1))
                read = (int(node.get("Actual Rows") or 0) + int(node.get("Rows Removed by Filter") or 0)) * loops
                known = self._pg_rows(con, rel)
                rows = max(read, known or 0)
                scans.append({"table": rel, "rows": rows, "detail": f"{kind} on {rel}",
                              "large": rows is not None and rows >= self.large})
            for child in node.get("Plans") or ():
                walk(child)

        walk(top["Plan"])
        plan = top["Plan"]
        return {"format": "postgres-json", "plan": doc, "indexes": sorted(set(indexes)), "scans": scans,
                "execution_time": (top.get("Execution Time") or 0) / 1000.0,
                "planning_time": (top.get("Planning Time") or 0) / 1000.0,
                "shared_hit_blocks": plan.get("Shared Hit Blocks"), "shared_read_blocks": plan.get("Shared Read Blocks")}

    def _pg_rows(self, con: Any, relname: str) -> int | None:
        """The catalogue's row estimate (the plan JSON names the relation without its schema)."""
        if relname not in self._sizes:
            with con.cursor() as cur:
                cur.execute("SELECT max(reltuples)::bigint FROM pg_class WHERE relname = %s "
                            "AND relkind IN ('r', 'p', 'm')", (relname,))
                row = cur.fetchone()
            self._sizes[relname] = int(row[0]) if row and row[0] is not None and row[0] >= 0 else None
        return self._sizes[relname]


# ------------------------------------------------------------------ parameters and timing


def parameter_rows(stmt: dict[str, Any], cfg: dict[str, Any], needed: int) -> list[Any]:
    """The parameter rows one statement cycles through (at most ``needed`` are taken from a generator)."""
    source: Iterable[Any]
    ref = stmt.get("params_from") or (cfg.get("params_from") if not cfg.get("params") else None)
    if stmt.get("params") is not None:
        source = stmt["params"]
    elif ref:
        try:
            source = iter(wire.resolve(ref)())
            rows = [r if isinstance(r, list | tuple | dict) else (r,) for r in itertools.islice(source, needed)]
        except Exception as e:
            raise Fault("params", f"statement {stmt['name']!r}: parameters from {ref} failed: "
                                  f"{type(e).__name__}: {e}") from None
        source = rows
    elif cfg.get("params"):
        source = cfg["params"]
    else:
        return [()]
    rows = [r if isinstance(r, list | tuple | dict) else (r,) for r in itertools.islice(source, needed)]
    if not rows:
        raise Fault("params", f"statement {stmt['name']!r}: the parameter source produced no rows")
    return [tuple(r) if isinstance(r, list) else r for r in rows]


def _execute(con: Any, sql: str, params: Any) -> int:
    # No parameters: send the SQL as written, so a literal % (modulo) is not taken for a psycopg placeholder.
    cur = con.execute(sql, params) if params else con.execute(sql)
    rows = cur.fetchall() if cur.description is not None else []
    return len(rows)


LIVE_EVERY = 0.5  # seconds between live latency batches
LIVE_VALUES = 200  # latencies per batch at most (evenly thinned)


class Live:
    """Sends the latencies completed since the last batch, twice a second, so the run can be watched."""

    def __init__(self, chan: wire.Channel, name: str, per: list[list[float]]) -> None:
        self.chan, self.name, self.per = chan, name, per
        self.seen = [0] * len(per)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="perflab-live")

    def flush(self) -> None:
        new: list[float] = []
        for i, lat in enumerate(self.per):
            n = len(lat)  # list.append is atomic: reading the length, then the slice, is safe
            new += lat[self.seen[i]:n]
            self.seen[i] = n
        if new:
            step = max(1, len(new) // LIVE_VALUES)
            self.chan.send(wire.QueryLatencies(name=self.name, values=new[::step], count=len(new),
                                               done=sum(self.seen)))

    def _run(self) -> None:
        while not self._stop.wait(LIVE_EVERY):
            self.flush()

    def __enter__(self) -> Live:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.flush()


def time_statement(db: Database, cons: list[Any], stmt: dict[str, Any], rows: list[Any],
                   executions: int, chan: wire.Channel | None = None) -> tuple[list[float], float, int]:
    """Latencies (s) of ``executions`` executions on every connection at once, the wall time, rows returned."""
    per: list[list[float]] = [[] for _ in cons]
    failure: list[BaseException] = []
    returned = [0]
    start_gate = threading.Barrier(len(cons))

    def work(i: int, con: Any) -> None:
        params = itertools.cycle(rows[i::len(cons)] or rows)
        pc = time.perf_counter
        lat = per[i]
        try:
            start_gate.wait()
            for _ in range(executions):
                t0 = pc()
                n = _execute(con, stmt["sql"], next(params))
                lat.append(pc() - t0)
            returned[0] = n
        except BaseException as e:
            failure.append(e)
            start_gate.abort()

    threads = [threading.Thread(target=work, args=(i, c), daemon=True) for i, c in enumerate(cons)]
    live = Live(chan or wire.Channel(None), stmt["name"], per)
    with live:
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    real = [f for f in failure if not isinstance(f, threading.BrokenBarrierError)]
    if real:
        raise real[0]
    return [x for part in per for x in part], elapsed, returned[0]


def run(cfg: dict[str, Any], chan: wire.Channel) -> None:
    db = Database(cfg)
    con = db.connect()
    chan.send(wire.QueryConnected(engine=db.engine, version=db.version(con), **db.where))
    errors = db.errors()
    if cfg.get("setup"):
        try:
            wire.resolve(cfg["setup"])(con)
        except Exception as e:  # the database's error or the user's code: either way one line
            raise Fault("setup", f"setup {cfg['setup']} failed: {type(e).__name__}: {e}") from None
    chan.send(wire.QueryIndexes(names=db.index_names(con)))
    cons = [con] + [db.connect() for _ in range(int(cfg["connections"]) - 1)]
    executions, warmup = int(cfg["executions"]), int(cfg["warmup"])
    for i, stmt in enumerate(cfg["statements"]):
        name = stmt["name"]
        chan.send(wire.Phase(name="statement", detail=f"{name}: plan and warm-up",
                             progress=i / len(cfg["statements"])))
        rows = parameter_rows(stmt, cfg, max(1, warmup + executions * len(cons)))
        try:
            if cfg["explain"]:
                chan.send(wire.QueryPlan(name=name, **db.plan(con, stmt["sql"], rows[0])))
            for j in range(warmup):
                _execute(con, stmt["sql"], rows[j % len(rows)])
            chan.send(wire.Phase(name="statement", detail=f"{name}: {executions:,} executions x {len(cons)}",
                                 progress=(i + 0.2) / len(cfg["statements"])))
            lat, elapsed, returned = time_statement(db, cons, stmt, rows, executions, chan)
        except errors as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise Fault("sql", msg, name=name) from None
        chan.send(wire.QueryStatement(name=name, latencies=lat, elapsed=elapsed, rows=returned,
                                      connections=len(cons), params=len(rows)))
    for c in cons:
        c.close()


def main(config_path: str) -> int:
    with open(config_path, encoding="utf-8") as f:
        cfg = json.load(f)
    chan = wire.channel()
    try:
        run(cfg, chan)
    except Fault as e:
        chan.send(wire.QueryError(stage=e.stage, message=str(e), **e.extra))
        return 3
    chan.send(wire.Done())
    chan.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except KeyboardInterrupt:  # perflab stops us with SIGINT first
        sys.exit(130)
