"""The query runner on real SQLite: the shipped profile, plans, expectations, connections, parameters.

One demo database (200,000 orders) is built per session into a temporary cache folder (~2 s); the file takes
about 20 s in all.
"""

from __future__ import annotations

import json
import os
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import pytest

from perflab.core.model import PerflabError
from perflab.demo import shopdb
from perflab.runners.query.runner import predicate, statements
from tests.conftest import PROFILES, run_headless


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("perflab-cache")
    old = os.environ.get("PERFLAB_CACHE")
    os.environ["PERFLAB_CACHE"] = str(folder)
    try:
        shopdb.ensure_sqlite()
    finally:
        if old is None:
            os.environ.pop("PERFLAB_CACHE", None)
        else:
            os.environ["PERFLAB_CACHE"] = old
    return folder


def run(tmp_path: Path, cache: Path, profile: Path | str, module: str = "",
        env: dict[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
    return run_headless(tmp_path, profile, module=module, env={"PERFLAB_CACHE": str(cache), **(env or {})},
                        name="q.toml")


def metric(result: dict[str, Any], name: str, **lbls: str) -> float | None:
    for m in result.get("metrics", []):
        if m["name"] == name and all(m["labels"].get(k) == v for k, v in lbls.items()) and (lbls or not m["labels"]):
            return float(m["value"])
    return None


INDEXED = "orders of one customer (indexed)"
UNINDEXED = "big orders (no index)"


def test_shipped_sqlite_profile_shows_percentiles_plans_and_the_full_scan(tmp_path: Path, cache: Path) -> None:
    proc, result = run(tmp_path, cache, PROFILES / "query-sqlite.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["status"] == "passed"
    plans = result["data"]["plans"]
    assert plans[INDEXED]["indexes"] == ["idx_orders_customer"]
    assert any(line.startswith("SEARCH orders USING INDEX idx_orders_customer") for line in plans[INDEXED]["plan"])
    assert plans[UNINDEXED]["plan"] == ["SCAN orders"]
    assert plans[UNINDEXED]["scans"][0]["rows"] == shopdb.ORDERS
    assert metric(result, "full_scans") == 1
    assert metric(result, "full_scans", query=INDEXED) == 0
    assert metric(result, "uses_index", index="idx_orders_customer") == 1
    for q in ("p50", "p95", "p99"):
        assert metric(result, q, query=UNINDEXED) > 0
    assert metric(result, "executions", query=INDEXED) == 100
    out = proc.stdout
    assert "full scan of orders (200,000 rows)" in out  # the warning and the note
    assert "SCAN orders" in out and "p95" in out


def test_no_full_scan_expectation_fails_the_run(tmp_path: Path, cache: Path) -> None:
    proc, result = run(tmp_path, cache, """
        name = "scan"
        [target]
        database = "demo:shop"
        sql = [{ name = "by alias", sql = "SELECT count(*) FROM orders o WHERE o.status = ?", params = [["paid"]] }]
        [test]
        type = "query"
        warmup = 1
        executions = 5
        expect = ["no_full_scan"]
    """)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert result["status"] == "failed"
    assert "no_full_scan" in result["message"] and "'by alias' scans all of orders" in result["message"]


def test_uses_index_expectation_fails_when_the_plan_does_not_use_it(tmp_path: Path, cache: Path) -> None:
    proc, result = run(tmp_path, cache, """
        name = "noindex"
        [target]
        database = "demo:shop"
        sql = [{ sql = "SELECT max(total) FROM orders WHERE created > ?", params = [[0]], expect = ['uses_index("idx_orders_customer")'] }]
        [test]
        type = "query"
        warmup = 0
        executions = 3
    """)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "did not use index idx_orders_customer" in result["message"]


def test_concurrent_connections_and_a_generator_of_parameters(tmp_path: Path, cache: Path) -> None:
    proc, result = run(tmp_path, cache, """
        name = "conns"
        [target]
        database = "demo:shop"
        sql = "SELECT id FROM orders WHERE customer_id = ?"
        [test]
        type = "query"
        params_from = "usercode:endless_ids"
        warmup = 5
        executions = 40
        connections = 3
    """, module="""
        import itertools

        def endless_ids():
            # an infinite generator: the agent takes only what it needs
            for i in itertools.count(1):
                yield [i % 5000 + 1]
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    q = result["data"]["queries"][0]
    assert q["connections"] == 3
    assert metric(result, "executions", query="query 1") == 120
    assert result["data"]["indexes_used"] == ["idx_orders_customer"]


def test_statement_validation_names_the_bad_entry() -> None:
    assert [s["name"] for s in statements(["SELECT 1", {"name": "x", "sql": "SELECT 2"}])] == ["query 1", "x"]
    with pytest.raises(PerflabError, match=r"target.sql\[1\]: unknown key 'sq'"):
        statements(["SELECT 1", {"sq": "SELECT 2"}])
    with pytest.raises(PerflabError, match="two statements are named"):
        statements([{"name": "a", "sql": "SELECT 1"}, {"name": "a", "sql": "SELECT 2"}])
    assert predicate('uses_index("idx_a")', "x") == ("uses_index", "idx_a")
    assert predicate("uses_index(idx_a)", "x") == ("uses_index", "idx_a")
    assert predicate("no_full_scan", "x") == ("no_full_scan", None)
    with pytest.raises(PerflabError, match="unknown predicate"):
        predicate("fast_please", "test.expect")


def test_sqlite_plan_parsing_resolves_aliases_and_ignores_small_tables(tmp_path: Path) -> None:
    from perflab.runners.agents.query_agent import Database

    path = tmp_path / "p.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE big (id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
        CREATE INDEX idx_big_k ON big(k);
        CREATE TABLE small (id INTEGER PRIMARY KEY, name TEXT);
    """)
    con.executemany("INSERT INTO big VALUES (?, ?, ?)", ((i, i % 97, "x") for i in range(1, 3001)))
    con.executemany("INSERT INTO small VALUES (?, ?)", ((i, f"n{i}") for i in range(1, 11)))
    con.commit()
    db = Database({"engine": "sqlite", "database": str(path), "large_table": 1000})
    conn = db.connect()
    by_alias = db.plan(conn, "SELECT count(*) FROM big b WHERE b.v = ?", ("x",))
    assert [(s["table"], s["rows"], s["large"]) for s in by_alias["scans"]] == [("big", 3000, True)]
    indexed = db.plan(conn, "SELECT * FROM big WHERE k = ?", (5,))
    assert indexed["indexes"] == ["idx_big_k"] and indexed["scans"] == []
    by_key = db.plan(conn, "SELECT * FROM big WHERE id = ?", (5,))
    assert by_key["indexes"] == ["PRIMARY KEY"] and by_key["scans"] == []
    small = db.plan(conn, "SELECT * FROM small WHERE name = ?", ("n1",))
    assert small["scans"][0]["table"] == "small" and small["scans"][0]["large"] is False
    # without ANALYZE statistics SQLite walks all of idx_big_k: reading a whole index is a full scan too
    joined = db.plan(conn, "SELECT s.name FROM small s JOIN big ON big.k = s.id", ())
    assert "idx_big_k" in joined["indexes"]
    assert [(s["table"], s["large"]) for s in joined["scans"]] == [("big", True)]
    assert "USING COVERING INDEX" in joined["scans"][0]["detail"]
    conn.close()
    con.close()


def test_uses_index_threshold_fails_when_an_existing_index_goes_unused(tmp_path: Path, cache: Path) -> None:
    proc, result = run(tmp_path, cache, """
        name = "threshold"
        thresholds = ["uses_index(idx_orders_customer) >= 1"]
        [target]
        database = "demo:shop"
        sql = "SELECT count(*) FROM orders WHERE status = 'paid'"
        [test]
        type = "query"
        warmup = 0
        executions = 2
    """)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert metric(result, "uses_index", index="idx_orders_customer") == 0
    assert "uses_index(idx_orders_customer) >= 1" in result["message"]


def test_latencies_stream_while_a_statement_runs(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from perflab.core import profiles
    from perflab.core.engine import Engine
    from perflab.core.model import Sample, Status
    from perflab.runners.framework.base import RunContext, runner_for

    monkeypatch.setenv("PERFLAB_CACHE", str(cache))
    profile = profiles.parse(textwrap.dedent("""
        name = "live"
        [target]
        database = "demo:shop"
        sql = [{ name = "scan", sql = "SELECT count(*) FROM orders WHERE total > ?", params = [[250]] }]
        [test]
        type = "query"
        warmup = 0
        executions = 40
        connections = 2
    """), "live.toml")
    samples: list[Sample] = []

    class Sink:
        def handle(self, event: object) -> None:
            if isinstance(event, Sample) and event.series.startswith("query."):
                samples.append(event)

    outcome = asyncio.run(Engine(profile, [Sink()], runner_for=runner_for, context=RunContext, session_id="t",
                                 artifacts_dir=tmp_path / "a", workdir=tmp_path, monitor=False).run())
    assert outcome.result.status == Status.PASSED, outcome.result.message
    done = [s.value for s in samples if s.series == "query.executions"]
    assert done and done == sorted(done) and done[-1] == 80  # 40 executions x 2 connections, counted up
    assert all(s.value > 0 for s in samples if s.series == "query.latency")
    assert {s.series for s in samples} >= {"query.latency", "query.p50", "query.p95", "query.p99"}


@pytest.mark.parametrize(("thresholds", "sql", "code", "said"), [
    (['uses_index("idx_orders_customer")', "no_full_scan"],
     "SELECT id, total FROM orders WHERE customer_id = ?", 0, 'threshold ok: uses_index("idx_orders_customer")'),
    (["no_full_scan"], "SELECT count(*) FROM orders WHERE total > ?", 1, "threshold failed: no_full_scan"),
    (['uses_index("idx_nope")'], "SELECT id, total FROM orders WHERE customer_id = ?", 1,
     'threshold failed: uses_index("idx_nope") (no matching metric'),
])
def test_predicate_thresholds_gate_the_run(tmp_path: Path, cache: Path, thresholds: list[str], sql: str,
                                           code: int, said: str) -> None:
    """The issue's own forms: `uses_index("NAME")` and `no_full_scan` as thresholds, not only as expect."""
    proc, result = run(tmp_path, cache, f"""
        name = "predicates"
        thresholds = {json.dumps(thresholds)}
        [target]
        database = "demo:shop"
        sql = "{sql}"
        [test]
        type = "query"
        params = [[7], [4990]]
        warmup = 0
        executions = 3
    """)
    assert proc.returncode == code, proc.stdout + proc.stderr
    text = result["message"] + "\n" + "\n".join(n["text"] for n in result["notes"])
    assert said in text
