"""Load figures checked against a request log the locustfile writes itself: real Locust (standalone and a
master with two workers), the real demo server on 127.0.0.1. Also: failures fail a run by default, and a run
stopped by SIGINT still prints and stores what it measured, marked partial."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

LOCUSTFILE = '''
import itertools
import os
from locust import HttpUser, constant, events, task

LOG = open(os.path.join({logdir!r}, f"{{os.getpid()}}.log"), "a", buffering=1)
CALLS = itertools.count()


@events.request.add_listener
def log_request(request_type, name, response_time, exception=None, **_):
    LOG.write(f"{{request_type}} {{name}}\\t{{response_time!r}}\\t{{int(exception is not None)}}\\n")


class Visitor(HttpUser):
    wait_time = constant(0.005)

    @task(3)
    def fast(self):
        with self.client.get("/fast", catch_response=True) as r:
            if next(CALLS) % 10 == 0:  # the first and every tenth: a run always has failures
                r.failure("chosen to fail")

    @task
    def slow(self):
        self.client.get("/slow?delay=0.8", name="/slow")
'''


def _setup(tmp_path: Path, test: str) -> tuple[Path, Path]:
    logdir = tmp_path / "requests"
    logdir.mkdir()
    (tmp_path / "lf.py").write_text(LOCUSTFILE.format(logdir=str(logdir)), encoding="utf-8")
    profile = tmp_path / "p.toml"
    profile.write_text(f"""
name = "exact"
[serve]
command = "demo"
[target]
locustfile = "lf.py"
[test]
type = "load"
{test}
""", encoding="utf-8")
    return profile, logdir


def _logged(logdir: Path) -> dict[str, list[tuple[float, int]]]:
    """endpoint -> [(response time ms, failed)] from every Locust process's log."""
    out: dict[str, list[tuple[float, int]]] = {}
    for f in logdir.glob("*.log"):
        for line in f.read_text().splitlines():
            name, ms, failed = line.split("\t")
            out.setdefault(name, []).append((float(ms), int(failed)))
    return out


def _metric(result: dict, name: str, **lbl: str) -> float:
    for m in result["metrics"]:
        if m["name"] == name and m["labels"] == lbl:
            return float(m["value"])
    raise AssertionError(f"no metric {name} {lbl}")


def _exact_percentile(values_ms: list[float], q: float) -> float:
    """The logged value of rank round(q % of n) in seconds: HDR's definition of a percentile (its
    get_target_count_at_percentile), which a histogram of 3 significant digits returns within 0.1 %."""
    xs = sorted(values_ms)
    return xs[max(1, math.floor(q * len(xs) / 100 + 0.5)) - 1] / 1e3


def _check_against_log(result: dict, logged: dict[str, list[tuple[float, int]]]) -> None:
    every = [r for rows in logged.values() for r in rows]
    assert _metric(result, "requests") == len(every)
    assert _metric(result, "failures") == sum(f for _, f in every)
    for endpoint, rows in logged.items():
        assert _metric(result, "requests", endpoint=endpoint) == len(rows), endpoint
        assert _metric(result, "failures", endpoint=endpoint) == sum(f for _, f in rows), endpoint
    for key, q in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0)):
        exact = _exact_percentile([ms for ms, _ in every], q)
        # 0.1 % from the histogram's buckets, 0.1 % margin, 2 µs from rounding to whole microseconds
        assert abs(_metric(result, key) - exact) <= exact * 2e-3 + 2e-6, (key, _metric(result, key), exact)


def _run(tmp_path: Path, store_dir: Path, profile: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "out.json"
    proc = run_cli("--headless", "-q", str(profile), "--json", str(out), cwd=tmp_path,
                   env={"PERFLAB_STORE": str(store_dir)}, timeout=150)
    doc = json.loads(out.read_text()) if out.exists() else {}
    return proc, doc["runs"][0]["result"] if doc else {}


def test_two_workers_count_every_request_of_the_locustfile_log(tmp_path: Path, store_dir: Path) -> None:
    """Each worker's last interval used to be lost (-2.6 % of requests): counts must now equal the log's."""
    profile, logdir = _setup(tmp_path, 'users = 10\nduration = "3s"\nworkers = 2\nmax_error_rate = "50%"')
    proc, result = _run(tmp_path, store_dir, profile)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["data"]["workers"] == 2
    logged = _logged(logdir)
    assert len(list(logdir.glob("*.log"))) >= 2  # the master's file is empty: workers make the requests
    assert sum(len(v) for v in logged.values()) > 100
    assert sum(f for v in logged.values() for _, f in v) > 0
    _check_against_log(result, logged)


def test_failures_fail_a_run_by_default_and_counts_are_exact(tmp_path: Path, store_dir: Path) -> None:
    """As plain Locust exits 1 when a request failed, so does perflab without test.max_error_rate."""
    profile, logdir = _setup(tmp_path, 'users = 3\nduration = "2s"')
    proc, result = _run(tmp_path, store_dir, profile)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert result["status"] == "failed"
    assert "more than test.max_error_rate allows (0.00 %)" in result["message"]
    _check_against_log(result, _logged(logdir))


def test_sigint_prints_and_stores_the_partial_summary(tmp_path: Path, store_dir: Path) -> None:
    """Ctrl-C of a headless run: exit 130, and the summary shows every request made until then."""
    profile, logdir = _setup(tmp_path, 'users = 3\nduration = "60s"\nmax_error_rate = "50%"')
    out = tmp_path / "out.json"
    proc = subprocess.Popen([sys.executable, "-m", "perflab", "--headless", str(profile), "--json", str(out)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PERFLAB_STORE": str(store_dir), "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and sum(f.stat().st_size for f in logdir.glob("*.log")) < 2000:
            time.sleep(0.2)
        time.sleep(2.0)  # a couple of full intervals
        proc.send_signal(signal.SIGINT)
        text, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    assert proc.returncode == 130, text
    assert "partial" in text.lower() and "INTERRUPTED" in text
    assert "stopped early" in text  # the summary table is printed, titled as partial
    result = json.loads(out.read_text())["runs"][0]["result"]
    assert result["status"] == "interrupted"
    assert result["data"]["partial"] is True
    _check_against_log(result, _logged(logdir))
