"""Query runner: time SQL statements on SQLite or PostgreSQL and show the plans behind the numbers.

Why a child process (runners/agents/query_agent.py through ``ctx.spawn`` + the side channel) and not the
engine's own process: a statement can run for minutes inside C code that no asyncio cancellation reaches, so
only a process can be stopped for sure on timeout or Ctrl-C; the drivers' work (SQLite runs inside the client)
then shows up in the process monitor as the target's CPU and memory, not perflab's; and the engine's event
loop stays free to draw progress while N connections hammer the database. Starting the child costs ~0.2 s.

Events, twice a second while a statement runs (label ``query``): ``query.latency`` (s, a thinned batch of the
executions completed since the last one), ``query.p50|p95|p99`` (s, over that batch) and ``query.executions``
(count done so far). Metrics per statement (label ``query``): p50, p95, p99, mean, max (s),
throughput (/s), executions, full_scans (count of full scans of tables with at least ``large_table`` rows),
indexes_used (count); unlabelled totals ``full_scans`` and ``indexes_used``; ``uses_index{index=NAME}`` is 1
when a statement used that index and 0 for the database's other indexes (so
``uses_index(idx_orders_customer) >= 1`` gates). ``Result.data["plans"]``
holds each plan (SQLite ``EXPLAIN QUERY PLAN`` rows, PostgreSQL ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)``).
The ``expect`` parameter takes the predicates ``uses_index("NAME")`` and ``no_full_scan``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from perflab.core import stats
from perflab.core.model import (
    Cell,
    Level,
    Metric,
    Note,
    PerflabError,
    Profile,
    Quantity,
    Result,
    Status,
    SummaryTable,
    ToolError,
    labels,
)
from perflab.runners.agents import wire
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.child import child_env

AGENT = "perflab.runners.agents.query_agent"
STATEMENT_KEYS = ("name", "sql", "params", "params_from", "expect")
_USES_INDEX = re.compile(r"""^\s*uses_index\(\s*["']?([\w.$-]+)["']?\s*\)\s*$""")
_NO_FULL_SCAN = re.compile(r"^\s*no_full_scans?(?:\(\s*\))?\s*$")


def statements(value: Any) -> list[dict[str, Any]]:
    """target.sql as a list of statement tables; PerflabError names the bad entry."""
    items = [value] if isinstance(value, str) else list(value)
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"target.sql[{i}]"
        if isinstance(item, str):
            item = {"sql": item}
        unknown = [k for k in item if k not in STATEMENT_KEYS]
        if unknown:
            raise PerflabError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(STATEMENT_KEYS)})")
        if not isinstance(item.get("sql"), str) or not item["sql"].strip():
            raise PerflabError(f"{where}: needs sql = \"...\"")
        if item.get("params") is not None and not isinstance(item["params"], list):
            raise PerflabError(f"{where}.params: expected a list of parameter rows")
        for pred in item.get("expect") or []:
            predicate(pred, f"{where}.expect")
        out.append({"name": str(item.get("name") or f"query {i + 1}"), "sql": item["sql"],
                    "params": item.get("params"), "params_from": item.get("params_from"),
                    "expect": list(item.get("expect") or [])})
    names = [s["name"] for s in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise PerflabError(f"target.sql: two statements are named {dup!r}")
    return out


def predicate(text: str, where: str) -> tuple[str, str | None]:
    m = _USES_INDEX.match(str(text))
    if m:
        return "uses_index", m.group(1)
    if _NO_FULL_SCAN.match(str(text)):
        return "no_full_scan", None
    raise PerflabError(f'{where}: unknown predicate {text!r} (known: uses_index("NAME"), no_full_scan)')


class QueryRunner:
    test_type = "query"

    async def run(self, profile: Profile, ctx: RunContext) -> Result:
        p = profile.test.params
        t = profile.target
        stmts = statements(t.value)
        for pred in p.get("expect") or []:
            predicate(pred, "test.expect")
        if not p["explain"] and (p.get("expect") or any(s["expect"] for s in stmts)):
            raise PerflabError("expect needs the plans: remove test.explain = false")
        engine = t.options.get("engine") or "sqlite"
        workdir = Path(t.options.get("cwd") or ctx.workdir)
        cfg: dict[str, Any] = {
            "engine": engine, "statements": stmts, "params": list(p.get("params") or []),
            "params_from": p.get("params_from"), "warmup": int(p["warmup"]), "executions": int(p["executions"]),
            "connections": int(p["connections"]), "large_table": int(p["large_table"]),
            "explain": bool(p["explain"]), "setup": t.options.get("setup"),
        }
        if engine == "sqlite":
            db = t.options.get("database")
            if not db:
                raise PerflabError('target.database: SQLite needs a database file (or "demo:shop")')
            if db != "demo:shop":
                path = Path(db) if os.path.isabs(db) else workdir / db
                if not path.is_file():
                    raise PerflabError(f"target.database: {db}: no such SQLite database file")
                db = str(path)
            cfg["database"] = db
        else:
            var = t.options.get("dsn_env")
            if not var:
                raise PerflabError("target.dsn_env: PostgreSQL needs the name of the environment variable "
                                   "holding the DSN (the DSN itself is never written in a profile)")
            if not os.environ.get(var):
                raise PerflabError(f"environment variable {var} is not set (target.dsn_env names it; it must hold "
                                   "the PostgreSQL DSN, e.g. postgresql://user@127.0.0.1:5432/db)")
            cfg["dsn_env"] = var  # a secret whether listed or not (core.profiles adds dsn_env to secrets)
        cfg_path = ctx.artifacts_dir / "query.json"
        cfg_path.parent.mkdir(parents=True, exist_ok=True)
        cfg_path.write_text(json.dumps(cfg, indent=2, default=str), encoding="utf-8")

        state: dict[str, Any] = {"plans": {}, "runs": {}, "error": None, "connected": {}}

        def on_record(rec: dict[str, Any]) -> None:
            msg = wire.parse(rec, wire.QUERY)
            if isinstance(msg, wire.QueryConnected):
                state["connected"] = msg.fields()  # engine, version and where: the result's "server"
                ctx.log(f"connected: {msg.version}", source="query")
            elif isinstance(msg, wire.QueryIndexes):
                state["indexes"] = list(msg.names or [])
            elif isinstance(msg, wire.Phase):
                ctx.phase(msg.name, msg.detail, msg.progress)
            elif isinstance(msg, wire.QueryPlan):
                plan = msg.fields()
                name = plan.pop("name")
                state["plans"][name] = plan  # stored in the result as the agent sent it
                for scan in msg.scans:
                    if scan["large"]:
                        ctx.notice(f"{name}: full scan of {scan['table']} ({scan['rows']:,} rows)",
                                   Level.WARNING, "query.full_scan")
            elif isinstance(msg, wire.QueryLatencies):  # live: a thinned batch of latencies
                lb = labels(query=msg.name)
                for v in msg.values:
                    ctx.sample("query.latency", v, lb)
                for q in (50, 95, 99):
                    ctx.sample(f"query.p{q}", stats.percentile(msg.values, q), lb)
                ctx.sample("query.executions", msg.done, lb)
            elif isinstance(msg, wire.QueryStatement):
                state["runs"][msg.name] = msg
            elif isinstance(msg, wire.QueryError):
                state["error"] = msg

        env = child_env(workdir, t.options.get("env") or {})
        child = await ctx.spawn([sys.executable, "-m", AGENT, str(cfg_path)], source="query", cwd=workdir,
                                env=env, on_record=on_record)
        code = await child.wait()
        err = state["error"]
        if err is not None:
            if err.stage == "params":  # the profile's parameter source: the user's to fix
                raise PerflabError(self._error_message(engine, err, stmts))
            raise ToolError(self._error_message(engine, err, stmts))
        if code != 0 or len(state["runs"]) < len(stmts):
            tail = [x for x in child.stderr_tail if x.strip()]
            raise ToolError(f"the query agent exited ({code}) before the end"
                            + (f": {tail[-1].strip()}" if tail else ""))
        return summarize(profile, stmts, state, engine)

    @staticmethod
    def _error_message(engine: str, err: wire.QueryError, stmts: list[dict[str, Any]]) -> str:
        db = "SQLite" if engine == "sqlite" else "PostgreSQL"
        if err.stage == "sql":
            return f"{db} rejected statement {err.name!r}: {err.message}"
        return str(err.message)


def summarize(profile: Profile, stmts: list[dict[str, Any]], state: dict[str, Any], engine: str) -> Result:
    p = profile.test.params
    metrics: list[Metric] = []
    per: list[Metric] = []
    raw: dict[str, tuple[tuple[float, ...], ...]] = {}
    rows: list[tuple[Cell, ...]] = []
    plan_rows: list[tuple[Cell, ...]] = []
    notes: list[Note] = []
    used: set[str] = set()
    flagged: list[dict[str, Any]] = []
    queries: list[dict[str, Any]] = []
    for s in stmts:
        name = s["name"]
        run: wire.QueryStatement = state["runs"][name]
        plan = state["plans"].get(name, {"indexes": [], "scans": [], "plan": []})
        lat = run.latencies
        d = stats.describe(lat)
        lb = labels(query=name)
        tput = len(lat) / run.elapsed if run.elapsed else 0.0
        for key in ("p50", "p95", "p99", "mean", "max"):
            value = d["median"] if key == "p50" else d[key]
            per.append(Metric(key, value, "s", lb))
        per.append(Metric("throughput", tput, "/s", lb))
        per.append(Metric("executions", len(lat), "count", lb))
        big = [x for x in plan["scans"] if x["large"]]
        per.append(Metric("full_scans", len(big), "count", lb))
        per.append(Metric("indexes_used", len(plan["indexes"]), "count", lb))
        raw[Metric("p50", 0, "s", lb).key()] = (tuple(lat),)
        used.update(plan["indexes"])
        flagged += [{"query": name, **x} for x in big]
        rows.append((name, len(lat), int(run.connections),
                     *(Quantity(d[k], "s") for k in ("median", "p95", "p99", "max")), Quantity(tput, "/s"),
                     int(run.rows), ", ".join(plan["indexes"]) or None,
                     ", ".join(x["table"] for x in big) or None))  # the rows each scan read: in its note
        for line in _plan_lines(plan):
            plan_rows.append((name, line))
            name = ""
        for x in big:
            notes.append(Note(f"full scan of {x['table']} ({x['rows']:,} rows) in {s['name']!r}: "
                              "an index on the filtered or joined columns would avoid reading every row.",
                              Level.WARNING, "query.full_scan"))
        queries.append({"name": s["name"], "sql": s["sql"], "stats": d, "throughput": tput,
                        "connections": run.connections, "rows": run.rows})
    metrics.append(Metric("full_scans", len(flagged), "count"))
    metrics.append(Metric("indexes_used", len(used), "count"))
    # 0 for every index of the database no statement used, so "uses_index(NAME) >= 1" can fail
    for ix in sorted(used | set(state.get("indexes") or ())):
        metrics.append(Metric("uses_index", 1 if ix in used else 0, "count", labels(index=ix)))
    metrics += per
    failures = _expectations(p.get("expect") or [], stmts, state)
    notes += [Note(f, Level.ERROR, "query.failed") for f in failures]
    where = state["connected"]
    target = where.get("database") or f"{where.get('host')}:{where.get('port')}/{where.get('dbname')}"
    tables = [SummaryTable(f"{profile.name}: {where.get('version', engine)} at {target}",
                           ("query", "executions", "conns", "p50", "p95", "p99", "max", "throughput", "rows",
                            "indexes", "full scans"), tuple(rows))]
    if plan_rows:
        tables.append(SummaryTable("plans" + (" (EXPLAIN QUERY PLAN)" if engine == "sqlite"
                                              else " (EXPLAIN ANALYZE, BUFFERS)"), ("query", "plan"),
                                   tuple(plan_rows)))
    data = {"engine": engine, "server": {k: v for k, v in where.items() if k != "engine"},
            "plans": state["plans"], "indexes_used": sorted(used), "full_scans": flagged, "queries": queries,
            "expect": failures}
    status = Status.FAILED if failures else Status.PASSED
    return Result(status, failures[0] if failures else "", tuple(metrics), raw, data, tuple(tables), tuple(notes))


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    if plan.get("format") == "postgres-json":
        out: list[str] = []

        def walk(node: dict[str, Any], depth: int) -> None:
            what = node.get("Node Type", "?")
            if node.get("Index Name"):
                what += f" using {node['Index Name']}"
            if node.get("Relation Name"):
                what += f" on {node['Relation Name']}"
            actual = node.get("Actual Rows")
            extra = f" (rows {actual:,}, {node.get('Actual Total Time', 0):.3g} ms)" if actual is not None else ""
            out.append("  " * depth + what + extra)
            for child in node.get("Plans") or ():
                walk(child, depth + 1)

        walk(plan["plan"][0]["Plan"], 0)
        return out
    return [str(x) for x in plan.get("plan") or []]


def _expectations(global_expect: list[str], stmts: list[dict[str, Any]], state: dict[str, Any]) -> list[str]:
    """Evaluate ``uses_index("X")`` / ``no_full_scan`` (test.expect: any statement; a statement's own: it)."""
    failures: list[str] = []
    checks = [(e, None) for e in global_expect] + [(e, s["name"]) for s in stmts for e in s["expect"]]
    for text, only in checks:
        kind, arg = predicate(text, "expect")
        plans = {n: pl for n, pl in state["plans"].items() if only is None or n == only}
        scope = f"statement {only!r}" if only else "any statement"
        if kind == "uses_index":
            if not any(arg in pl["indexes"] for pl in plans.values()):
                seen = sorted({ix for pl in plans.values() for ix in pl["indexes"]})
                failures.append(f"expectation failed: {text}: {scope} did not use index {arg} "
                                f"(used: {', '.join(seen) or 'none'})")
        else:
            big = [(n, x) for n, pl in plans.items() for x in pl["scans"] if x["large"]]
            if big:
                n, x = big[0]
                failures.append(f"expectation failed: {text}: {n!r} scans all of {x['table']} ({x['rows']:,} rows)")
    return failures

