"""`perflab init` and `perflab new` in a temporary project with a small package, then the generated suite run
for real: ruff on every generated file, pytest (benchmarks on), and the CI workflow's own commands, which run
`perflab --headless profiles/` as the gate.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli

BIN = Path(sys.executable).parent
RUFF = ["--select", "E,F,I,B,UP,W", "--target-version", "py311"]

SAMPLE = '''\
"""A small package standing in for the user's code."""


def dedupe(items: list[int]) -> list[int]:
    """Keep the first occurrence of every item, in order."""
    seen = set()
    out = []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def dedupe_fast(items):
    return list(dict.fromkeys(items))


def checksum(payload: bytes) -> int:
    return sum(payload) % 65521
'''


def tool(name: str) -> list[str]:
    """A console script of this interpreter (as a user would type it), else ``python -m name``."""
    path = BIN / name
    return [str(path)] if path.exists() else [sys.executable, "-m", name]


def shims(folder: Path) -> Path:
    """A bin folder whose ``python`` and ``perflab`` are this interpreter's, whatever else PATH holds."""
    bin_dir = folder / "shims"
    bin_dir.mkdir(exist_ok=True)
    for name, argv in (("python", [sys.executable]), ("perflab", [sys.executable, "-m", "perflab"])):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {shlex.join(argv)} "$@"\n')
        (bin_dir / name).chmod(0o755)
    return bin_dir


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 240,
        unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    for name in ("PYTHONPATH", *unset):  # the generated config must make the project importable on its own
        full.pop(name, None)
    return subprocess.run(argv, cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout)


def ruff_clean(project: Path, files: list[str]) -> None:
    ruff = shutil.which("ruff") or str(BIN / "ruff")
    fmt = run([ruff, "format", "--check", "--diff", "--isolated", *files], project)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    chk = run([ruff, "check", "--isolated", *RUFF, *files], project)
    assert chk.returncode == 0, chk.stdout + chk.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text(SAMPLE)
    (root / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "0.1.0"\n')
    return root


def test_init_then_new_benchmark_runs_green_under_pytest_and_the_ci_gate(project: Path, tmp_path: Path) -> None:
    r = run_cli("init", cwd=project)
    assert r.returncode == 0, r.stderr
    r = run_cli("new", "benchmark", "pkg.mod:dedupe", "--compare", "pkg.mod:dedupe_fast", "--sizes", "100,1000",
                cwd=project)
    assert r.returncode == 0, r.stderr
    assert "tests/performance/test_bench_dedupe.py" in r.stdout and "profiles/bench-dedupe.toml" in r.stdout
    generated = sorted(str(p.relative_to(project)) for p in project.rglob("*.py") if "pkg" not in p.parts)
    assert generated == ["locustfile.py", "tests/performance/conftest.py", "tests/performance/test_bench_dedupe.py",
                         "tests/performance/test_example_benchmarks.py"]
    ruff_clean(project, generated)

    # `pytest tests/performance` as the user types it, benchmarks on (short rounds to keep the suite quick)
    r = run([*tool("pytest"), "tests/performance", "-q", "-p", "no:cacheprovider", "--benchmark-max-time=0.01",
             "--benchmark-warmup=off"], project)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "11 passed" in r.stdout  # 6 membership + 1 sort + 2 sizes x 2 implementations

    # the workflow's own commands, in order, by bash as on the runner (the install step is replaced by this
    # environment; tests/runners/test_workflow_steps.py runs it too, in a fresh virtualenv)
    workflow = yaml.safe_load((project / ".github/workflows/perflab.yml").read_text())
    steps = workflow["jobs"]["perflab"]["steps"]
    commands = [s["run"] for s in steps if "run" in s and "pip install" not in s["run"]
                and "apt-get install" not in s["run"]]  # valgrind's step runs in test_workflow_steps.py
    assert [s["name"] for s in steps if s.get("run") in commands] == ["Benchmarks as tests", "Performance gate"]
    path = f"{shims(tmp_path)}{os.pathsep}{os.environ.get('PATH', '')}"
    for command in commands:
        r = run(["bash", "-eo", "pipefail", "-c", command], project, env={"PATH": path},
                unset=("PERFLAB_STORE",))  # the default store, .perflab/, as in CI
        assert r.returncode == 0, f"{command}\n{r.stdout[-4000:]}\n{r.stderr[-2000:]}"
    assert "example-benchmarks: PASSED" in r.stdout and "bench-dedupe: PASSED" in r.stdout
    junit = (project / ".perflab" / "junit.xml").read_text()
    assert "<testsuite" in junit and "bench-dedupe" in junit
    assert (project / ".perflab" / "summary.md").read_text().strip()
    # what the upload step collects: one folder per session, with the callgrind dumps of the counted example
    # (2 processes) and pytest-benchmark's JSON of each of the timed profile's 3 processes
    uploaded = [p for p in (project / ".perflab" / "artifacts").iterdir() if p.is_dir()]
    assert len(uploaded) == 2
    assert sorted(len(list(p.glob("pytest-benchmark-*.json"))) for p in uploaded) == [0, 3]
    assert sum(1 for p in uploaded if list(p.glob("callgrind/p2/cg.*"))) == 1


def test_new_leak_runs_green_as_a_test_and_a_profile(project: Path, tmp_path: Path) -> None:
    r = run_cli("new", "leak", "pkg.mod:dedupe_fast", cwd=project)
    assert r.returncode == 0, r.stderr
    ruff_clean(project, ["tests/performance/test_leak_dedupe_fast.py"])
    r = run([*tool("pytest"), "tests/performance/test_leak_dedupe_fast.py", "-q", "-p", "no:cacheprovider",
             "-o", "pythonpath=."], project)
    assert r.returncode == 0, r.stdout[-3000:]
    r = run_cli("--headless", "profiles/leak-dedupe-fast.toml", cwd=project,
                env={"PERFLAB_STORE": str(tmp_path / "store")})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "no growth" in r.stdout.lower() or "growth" in r.stdout.lower()


PASSWORD = "s3cret-pw-4711"  # the test's credential: must reach the server, never the session store
TOKEN = "tok-9f8e7d"


class _Handler(BaseHTTPRequestHandler):
    """GET answers 200 (500 under /broken); POST /login trades the right credentials for a token."""

    seen_auth: list[str] = []

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.seen_auth.append(self.headers.get("Authorization", ""))
        self._reply(500 if self.path.startswith("/broken") else 200, b'{"ok": true}')

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/login" and body == {"username": "ada", "password": PASSWORD}:
            self._reply(200, json.dumps({"token": TOKEN}).encode())
        else:
            self._reply(401, b'{"error": "bad credentials"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_new_load_runs_green_against_a_local_service(project: Path, tmp_path: Path, http_server: str) -> None:
    r = run_cli("new", "load", f"{http_server}/items", "--users", "3", "--p95", "800ms", "--duration", "4s",
                "--name", "items", cwd=project)
    assert r.returncode == 0, r.stderr
    ruff_clean(project, ["tests/performance/locust_items.py"])
    _Handler.seen_auth.clear()
    r = run_cli("--headless", "profiles/load-items.toml", cwd=project, timeout=120,
                env={"PERFLAB_STORE": str(tmp_path / "store"), "PERF_USERNAME": "ada", "PERF_PASSWORD": PASSWORD})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "/items" in r.stdout and "login" in r.stdout and "load-items: PASSED" in r.stdout
    # the sign-in flow ran: every page view carried the token the credentials from the environment bought
    assert _Handler.seen_auth and set(_Handler.seen_auth) == {f"Bearer {TOKEN}"}
    stored = b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file())
    assert PASSWORD.encode() not in stored


def test_generated_locustfile_fails_a_broken_service_alone_and_under_perflab(project: Path, tmp_path: Path,
                                                                          http_server: str) -> None:
    r = run_cli("new", "load", f"{http_server}/broken", "--users", "2", "--duration", "3s", "--name", "broken",
                cwd=project)
    assert r.returncode == 0, r.stderr
    # Locust alone: the locustfile's own gate turns >1 % failures into exit code 1
    r = run([sys.executable, "-m", "locust", "-f", "tests/performance/locust_broken.py", "--headless", "-u", "2",
             "-r", "2", "-t", "3s", "--only-summary"], project, timeout=60)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert "HTTP 500" in r.stdout + r.stderr
    # under perflab: the profile's thresholds give the verdict (exit 1 = gate failed)
    r = run_cli("--headless", "profiles/load-broken.toml", cwd=project,
                env={"PERFLAB_STORE": str(tmp_path / "store")}, timeout=120)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]
    assert "error_rate" in r.stdout


def test_new_query_on_sqlite_runs_green_as_a_test(project: Path, tmp_path: Path) -> None:
    with sqlite3.connect(project / "shop.db") as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total REAL)")
        conn.execute("CREATE INDEX idx_orders_customer ON orders (customer)")
        conn.executemany("INSERT INTO orders (customer, total) VALUES (?, ?)",
                         [(i % 50, i * 1.5) for i in range(2000)])
    r = run_cli("new", "query", "--db", "sqlite:///shop.db", "SELECT id, total FROM orders WHERE customer = 7",
                cwd=project)
    assert r.returncode == 0, r.stderr
    ruff_clean(project, ["tests/performance/test_query_orders.py"])
    r = run([*tool("pytest"), "tests/performance/test_query_orders.py", "-q", "-p", "no:cacheprovider",
             "--benchmark-max-time=0.02"], project)
    assert r.returncode == 0, r.stdout[-3000:]
    r = run_cli("--headless", "profiles/query-orders.toml", cwd=project,
                env={"PERFLAB_STORE": str(tmp_path / "store")}, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def _pg_dsn() -> str | None:
    dsn = os.environ.get("PERFLAB_PG_DSN")
    file = Path("/tmp/perflab-ci-pg.dsn")
    if not dsn and file.exists():
        dsn = file.read_text().strip()
    if not dsn:
        return None
    import psycopg

    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.Error:
        return None
    return dsn


def test_new_query_on_postgres_reads_the_dsn_from_the_environment(project: Path) -> None:
    dsn = _pg_dsn()
    if dsn is None:
        pytest.skip("no PostgreSQL server reachable (start it with .ci/postgres.sh)")
    r = run_cli("new", "query", "--db", dsn, "--dsn-env", "SHOP_DSN", "--name", "pg_one",
                "SELECT n FROM generate_series(1, 100) AS n WHERE n > 90", cwd=project)
    assert r.returncode == 0, r.stderr
    written = (project / "tests/performance/test_query_pg_one.py").read_text()
    assert dsn not in written and dsn not in (project / "profiles/query-pg-one.toml").read_text()
    ruff_clean(project, ["tests/performance/test_query_pg_one.py"])
    r = run([*tool("pytest"), "tests/performance/test_query_pg_one.py", "-q", "-p", "no:cacheprovider",
             "--benchmark-max-time=0.02", "-rs"], project, env={"SHOP_DSN": dsn})
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout[-3000:]
    r = run_cli("--headless", "profiles/query-pg-one.toml", cwd=project,
                env={"SHOP_DSN": dsn, "PERFLAB_STORE": str(project / "store")}, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    stored = b"".join(p.read_bytes() for p in (project / "store").rglob("*") if p.is_file())
    assert dsn.encode() not in stored  # the DSN is a secret: never in the session store


def test_src_layout_project_is_importable_by_the_generated_config(tmp_path: Path) -> None:
    root = tmp_path / "srcproj"
    (root / "src" / "lib").mkdir(parents=True)
    (root / "src" / "lib" / "__init__.py").write_text("async def double(n: int) -> int:\n    return 2 * n\n")
    r = run_cli("init", cwd=root)  # no pyproject.toml: pytest.ini is written
    assert r.returncode == 0, r.stderr
    assert "pythonpath = src" in (root / "pytest.ini").read_text()
    r = run_cli("new", "benchmark", "lib:double", "--sizes", "3", cwd=root)
    assert r.returncode == 0, r.stderr
    ruff_clean(root, ["tests/performance/test_bench_double.py"])
    r = run([*tool("pytest"), "tests/performance/test_bench_double.py", "-q", "-p", "no:cacheprovider",
             "--benchmark-disable"], root)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout[-3000:]
