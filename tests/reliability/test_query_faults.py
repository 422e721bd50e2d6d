"""Faults of the query and concurrency test types: one clear line, a documented exit code, no orphans.

Invalid SQL (the database's own message, session ``error``), connection refused (host and port named), a
missing DSN variable, a missing SQLite file, and a callable that deadlocks under concurrency.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from perflab.core.model import Status
from perflab.store.sessions import SessionStore
from tests.conftest import REPO, command_line, run_headless


def run(tmp_path: Path, body: str, env: dict[str, str] | None = None, module: str = "") -> tuple[Any, dict[str, Any]]:
    return run_headless(tmp_path, body, module=module, env=env, timeout=120)


def stored_session(tmp_path: Path) -> Any:
    with SessionStore(tmp_path / "store", readonly=True) as store:
        return store.get("last")


def test_invalid_sql_on_sqlite_is_a_session_error_with_the_database_message(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    proc, result = run(tmp_path, f"""
        name = "bad-sql"
        [target]
        database = "{db}"
        sql = [{{ name = "typo", sql = "SELEC x FROM t" }}]
        [test]
        type = "query"
    """)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert result["status"] == "error"
    assert result["message"] == "SQLite rejected statement 'typo': near \"SELEC\": syntax error"
    assert "Traceback" not in proc.stdout + proc.stderr
    row = stored_session(tmp_path)
    assert row.status == Status.ERROR and row.exit_code == 3
    assert row.message == result["message"]


def test_connection_refused_names_host_and_port(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on: bind, note it, close
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc, result = run(tmp_path, """
        name = "refused"
        secrets = ["PG_DSN_UNDER_TEST"]
        [target]
        engine = "postgres"
        dsn_env = "PG_DSN_UNDER_TEST"
        sql = "SELECT 1"
        [test]
        type = "query"
    """, env={"PG_DSN_UNDER_TEST": f"postgresql://someone:s3cret@127.0.0.1:{port}/nothing"})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}" in result["message"]
    assert "refused" in result["message"].lower()
    assert "s3cret" not in proc.stdout + proc.stderr + json.dumps(result)


def test_missing_dsn_variable_is_bad_input(tmp_path: Path) -> None:
    proc, result = run(tmp_path, """
        name = "nodsn"
        [target]
        engine = "postgres"
        dsn_env = "PERFLAB_DSN_THAT_IS_NOT_SET"
        sql = "SELECT 1"
        [test]
        type = "query"
    """)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "environment variable PERFLAB_DSN_THAT_IS_NOT_SET is not set" in result["message"]


def test_missing_sqlite_file_is_bad_input_and_not_created(tmp_path: Path) -> None:
    proc, result = run(tmp_path, """
        name = "nofile"
        [target]
        database = "missing.sqlite"
        sql = "SELECT 1"
        [test]
        type = "query"
    """)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "missing.sqlite: no such SQLite database file" in result["message"]
    assert not (tmp_path / "missing.sqlite").exists()


DEADLOCK = '''
import itertools, threading, time

a, b = threading.Lock(), threading.Lock()
turn = itertools.count()

def transfer():
    """Takes the two locks in opposite orders on alternate calls: two threads deadlock quickly."""
    first, second = (a, b) if next(turn) % 2 else (b, a)
    with first:
        time.sleep(0.001)
        with second:
            return 1
'''


def test_deadlocking_callable_is_reported_with_its_level_and_leaves_no_process(tmp_path: Path) -> None:
    started = time.time()
    proc, result = run(tmp_path, """
        name = "deadlock"
        [target]
        callable = "usercode:transfer"
        [test]
        type = "concurrency"
        levels = [1, 2]
        workers = ["threads"]
        duration = "0.3s"
        check = "none"
        hang_timeout = "2s"
        gil = false
    """, module=DEADLOCK)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert result["status"] == "error"
    assert result["message"].startswith("deadlock suspected with threads at level 2")
    # the level measured before the deadlock is kept
    assert [t["level"] for t in result["data"]["trials"]] == [1]
    assert time.time() - started < 60
    leftovers = [p for p in psutil.process_iter(["cmdline", "create_time"])
                 if p.info["create_time"] >= started - 1
                 and "concurrency_harness" in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
    if shutil.which("py-spy"):  # py-spy dump shows where the workers were stuck
        assert "workers stuck in transfer (usercode.py:" in result["message"]
        stacks = list((tmp_path / "store").rglob("deadlock-stacks.txt"))
        assert stacks and "perflab-worker-1" in stacks[0].read_text()


def test_unimportable_invariant_is_bad_input(tmp_path: Path) -> None:
    proc, result = run(tmp_path, """
        name = "badref"
        [target]
        callable = "perflab.demo.counter:locked_increment"
        invariant = "perflab.demo.counter:no_such_function"
        [test]
        type = "concurrency"
        levels = [1]
        workers = ["threads"]
        duration = "0.1s"
    """)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert result["message"].startswith("cannot load the concurrency target: AttributeError")
    assert "no_such_function" in result["message"]


LONG_RUNS = {
    "concurrency_harness": """
        name = "long-conc"
        [target]
        callable = "perflab.demo.counter:locked_increment"
        [test]
        type = "concurrency"
        levels = [2]
        workers = ["processes"]
        duration = "60s"
        check = "none"
        gil = false
    """,
    "query_agent": """
        name = "long-query"
        [target]
        database = "{db}"
        sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"
        [test]
        type = "query"
        warmup = 0
        executions = 1
        explain = false
    """,
}


@pytest.mark.parametrize("agent", sorted(LONG_RUNS))
def test_ctrl_c_stops_the_child_and_everything_it_started(tmp_path: Path, agent: str) -> None:
    db = tmp_path / "empty.sqlite"
    sqlite3.connect(db).close()
    prof = tmp_path / "long.toml"
    prof.write_text(textwrap.dedent(LONG_RUNS[agent].replace("{db}", str(db))), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    perflab = subprocess.Popen([sys.executable, "-m", "perflab", "--headless", "-q", str(prof), "--store",
                                str(tmp_path / "store")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        family: list[psutil.Process] = []
        while time.time() < deadline:
            family = psutil.Process(perflab.pid).children(recursive=True)
            running = [p for p in family if agent in command_line(p)]
            # the concurrency run must have its worker processes up too
            if running and (agent != "concurrency_harness" or len(family) >= 3):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"{agent} never started: {perflab.stderr.read() if perflab.poll() is not None else ''}")
        time.sleep(1.0)
        family = psutil.Process(perflab.pid).children(recursive=True)
        perflab.send_signal(signal.SIGINT)
        out, err = perflab.communicate(timeout=30)
    finally:
        if perflab.poll() is None:
            perflab.kill()
    assert perflab.returncode == 130, out + err
    gone, alive = psutil.wait_procs(family, timeout=5)
    assert alive == []
    with SessionStore(tmp_path / "store", readonly=True) as store:
        assert store.get("last").status == Status.INTERRUPTED


def test_a_worker_process_failing_to_start_is_an_error_not_a_hang(tmp_path: Path) -> None:
    started = time.time()
    proc, result = run(tmp_path, """
        name = "badworker"
        [target]
        callable = "usercode:work"
        setup = "usercode:setup"
        [test]
        type = "concurrency"
        levels = [2]
        workers = ["processes"]
        duration = "0.2s"
        gil = false
    """, module='''
        import multiprocessing

        def setup():
            if multiprocessing.current_process().name != "MainProcess":
                raise OSError("no database in worker processes")

        def work():
            return 1
    ''')
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert result["message"] == ("the concurrency harness failed (processes x 2): RuntimeError: a worker process "
                                 "failed while starting: OSError: no database in worker processes")
    assert time.time() - started < 40


def test_postgres_tests_skip_loudly_outside_ci_and_fail_under_ci(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.runners.test_query_postgres import give_up, unreachable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    problem = unreachable(f"postgresql://nobody@127.0.0.1:{port}/none")
    assert problem == "PostgreSQL not reachable: Connection refused"
    assert unreachable(None) == "no DSN: set PERFLAB_TEST_PG_DSN or run .ci/postgres.sh"
    with pytest.warns(UserWarning, match="SKIPPING the PostgreSQL query tests"), \
            pytest.raises(pytest.skip.Exception, match="Connection refused"):
        give_up(problem, {})
    assert "*** SKIPPING the PostgreSQL query tests: PostgreSQL not reachable" in capsys.readouterr().out
    with pytest.raises(pytest.fail.Exception, match="CI=true but PostgreSQL not reachable: Connection refused"):
        give_up(problem, {"CI": "true"})


def test_asyncio_only_with_a_sync_callable_is_bad_input(tmp_path: Path) -> None:
    proc, result = run(tmp_path, """
        name = "nothing"
        [target]
        callable = "perflab.demo.counter:locked_increment"
        [test]
        type = "concurrency"
        workers = ["asyncio"]
    """)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert result["message"] == ("nothing was measured: asyncio skipped: asyncio tasks need an async callable "
                                 "(async def); this one is synchronous")


def test_a_failing_parameter_source_is_bad_input_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    proc, result = run(tmp_path, f"""
        name = "badparams"
        [target]
        database = "{db}"
        sql = "SELECT x FROM t WHERE x = ?"
        [test]
        type = "query"
        params_from = "usercode:ids"
    """, module='''
        def ids():
            raise KeyError("customers")
    ''')
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert result["message"] == ("statement 'query 1': parameters from usercode:ids failed: "
                                 "KeyError: 'customers'")
