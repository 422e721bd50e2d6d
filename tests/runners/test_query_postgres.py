"""The query runner against a real PostgreSQL server.

The DSN comes from ``PERFLAB_TEST_PG_DSN`` (CI exports it from .ci/postgres.sh) or, failing that, the file
``/tmp/perflab-ci-pg.dsn`` that .ci/postgres.sh writes. Outside CI an unreachable server skips these tests
with a loud warning; under ``CI=true`` it is a failure, so CI can never go green without running them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest

from tests.conftest import PROFILES, run_headless

DSN_FILE = Path("/tmp/perflab-ci-pg.dsn")


def _dsn() -> str | None:
    dsn = os.environ.get("PERFLAB_TEST_PG_DSN")
    if not dsn and DSN_FILE.exists():
        dsn = DSN_FILE.read_text(encoding="utf-8").strip()
    return dsn or None


def unreachable(dsn: str | None) -> str | None:
    """Why the server cannot be used, or None."""
    if dsn is None:
        return "no DSN: set PERFLAB_TEST_PG_DSN or run .ci/postgres.sh"
    try:
        with psycopg.connect(dsn, connect_timeout=3) as con:
            con.execute("SELECT 1")
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return f"PostgreSQL not reachable: {first.rsplit('failed:', 1)[-1].strip()}"
    return None


def give_up(problem: str, env: Mapping[str, str]) -> NoReturn:
    """Under CI a missing server fails the tests; elsewhere they skip, loudly (warning + banner)."""
    if env.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {problem}")
    message = f"SKIPPING the PostgreSQL query tests: {problem}"
    warnings.warn(message, stacklevel=2)
    print(f"\n*** {message} ***")
    pytest.skip(message)


@pytest.fixture(scope="module")
def pg_dsn() -> str:
    dsn = _dsn()
    problem = unreachable(dsn)
    if problem:
        give_up(problem, os.environ)
    assert dsn is not None
    return dsn


def run(tmp_path: Path, profile: Path | str, env: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    return run_headless(tmp_path, profile, env=env, timeout=240, name="q.toml")


def test_shipped_postgres_profile_runs_against_the_server(tmp_path: Path, pg_dsn: str) -> None:
    proc, result = run(tmp_path, PROFILES / "query-postgres.toml", {"PERFLAB_PG_DSN": pg_dsn})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = result["data"]
    assert data["engine"] == "postgres"
    plans = data["plans"]
    indexed = plans["orders of one customer (indexed)"]
    assert "idx_orders_customer" in indexed["indexes"]
    assert indexed["format"] == "postgres-json"
    top = indexed["plan"][0]
    assert "Execution Time" in top and "Shared Hit Blocks" in top["Plan"]  # ANALYZE and BUFFERS were on
    scans = plans["big orders (no index)"]["scans"]
    assert scans and scans[0]["table"] == "orders" and scans[0]["large"]
    assert any(m["name"] == "full_scans" and not m["labels"] and m["value"] == 1 for m in result["metrics"])
    executions = [m for m in result["metrics"] if m["name"] == "executions"]
    assert all(m["value"] == 100 for m in executions)  # 50 executions x 2 connections
    assert "PostgreSQL 15" in proc.stdout or "PostgreSQL 1" in proc.stdout
    # the DSN is a secret: it is in no stored event and in no output
    store = (tmp_path / "store")
    blob = b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())
    assert pg_dsn.encode() not in blob
    assert pg_dsn not in proc.stdout + proc.stderr


def test_invalid_sql_reports_the_servers_message(tmp_path: Path, pg_dsn: str) -> None:
    proc, result = run(tmp_path, """
        name = "bad-pg"
        secrets = ["MY_PG"]
        [target]
        engine = "postgres"
        dsn_env = "MY_PG"
        sql = "SELEC 1"
        [test]
        type = "query"
    """, {"MY_PG": pg_dsn})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert result["status"] == "error"
    assert "PostgreSQL rejected statement 'query 1'" in result["message"]
    assert 'syntax error at or near "SELEC"' in result["message"]


def test_no_full_scan_gates_on_postgres(tmp_path: Path, pg_dsn: str) -> None:
    proc, result = run(tmp_path, """
        name = "scan-pg"
        [target]
        engine = "postgres"
        dsn_env = "MY_PG"
        setup = "perflab.demo.shopdb:prepare_postgres"
        sql = "SELECT count(*) FROM perflab_demo.orders WHERE status = %s"
        [test]
        type = "query"
        params = [["paid"]]
        warmup = 0
        executions = 3
        expect = ["no_full_scan"]
    """, {"MY_PG": pg_dsn})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "scans all of orders" in result["message"]


def test_literal_percent_without_parameters_is_not_a_placeholder(tmp_path: Path, pg_dsn: str) -> None:
    """psycopg parses %s placeholders only when parameters are passed; SQL without any keeps its modulo."""
    proc, result = run(tmp_path, """
        name = "modulo-pg"
        [target]
        engine = "postgres"
        dsn_env = "MY_PG"
        sql = "SELECT count(*) FROM generate_series(1, 1000) AS g(n) WHERE n % 7 = 0"
        [test]
        type = "query"
        warmup = 1
        executions = 5
    """, {"MY_PG": pg_dsn})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["status"] == "passed"
