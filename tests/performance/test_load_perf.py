"""Load runner performance: perflab's overhead on Locust's throughput, and the accuracy of its percentiles.

1. Requests/s of ``perflab --headless`` (Locust + perflab's plugin) against a plain ``locust --headless`` run of
   the same locustfile against the same demo server, the two run alternately. Target: ratio >= 0.95.
2. perflab's p50/p90/p95/p99/max against exact percentiles of every raw request time. Target: within 1 %.

With ``--benchmark-disable`` (CI's smoke run) one short pair runs and only sanity is checked. The figures in the
README come from a full run::

    python3 -m pytest tests/performance/test_load_perf.py -s -p no:randomly

which runs PAIRS alternating pairs of SECONDS each and prints the medians.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Api(FastHttpUser):
    wait_time = constant(0)

    @task(3)
    def fast(self):
        self.client.get("/fast")

    @task(1)
    def slow(self):
        self.client.get("/slow?delay=0.004")
"""
USERS = 10


@pytest.fixture
def demo_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # its own session (and autogroup): neither perflab's parent process nor pytest shares the server's CPU share
    proc = subprocess.Popen([sys.executable, "-m", "perflab.demo.httpapp", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _full(request: pytest.FixtureRequest) -> bool:
    return not request.config.getoption("benchmark_disable", default=False)


def _plain_locust(lf: Path, host: str, seconds: int, cwd: Path) -> int:
    """Requests made by a plain headless Locust run (from its final summary).

    Started the way perflab starts its Locust: in a new session (so, on Linux, in its own scheduler autogroup,
    which gets its own share of the CPU against the demo server's) and with the same ``--stop-timeout``.
    Started in the test's session instead, plain Locust shares an autogroup with the server and pytest, and
    the comparison measures the scheduler, not perflab."""
    out = subprocess.run([sys.executable, "-m", "locust", "-f", str(lf), "--headless", "-u", str(USERS), "-r",
                          str(USERS), "-t", f"{seconds}s", "--host", host, "--only-summary", "--stop-timeout", "0"],
                         cwd=cwd, capture_output=True, text=True, timeout=seconds + 60, start_new_session=True,
                         env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    for line in (out.stdout + out.stderr).splitlines():
        cells = line.split()
        if cells[:1] == ["Aggregated"] and "|" in cells:
            return int(cells[1])
    raise AssertionError("no summary from plain Locust:\n" + out.stderr[-2000:])


def _perflab(lf: Path, host: str, seconds: int, tmp: Path, raw: Path | None = None) -> dict:
    profile = tmp / "perf.toml"
    profile.write_text(f'name = "perf"\n[target]\nlocustfile = "{lf}"\nhost = "{host}"\n'
                       f'[test]\ntype = "load"\nusers = {USERS}\nduration = "{seconds}s"\n')
    out = tmp / "out.json"
    env = {**os.environ, "PERFLAB_STORE": str(tmp / "store")}
    if raw is not None:
        env["PERFLAB_RAW_TIMES"] = str(raw)
    proc = subprocess.run([sys.executable, "-m", "perflab", "--headless", "-q", str(profile), "--json", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=seconds + 90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads(out.read_text())["runs"][0]["result"]["metrics"]
    return {m["name"]: m["value"] for m in metrics if not m["labels"]}


def test_throughput_ratio_against_plain_locust(demo_server: str, tmp_path: Path,
                                               request: pytest.FixtureRequest) -> None:
    lf = tmp_path / "lf.py"
    lf.write_text(LOCUSTFILE)
    full = _full(request)
    pairs, seconds = (5, 8) if full else (1, 2)
    ratios, ours, theirs = [], [], []
    for i in range(pairs):
        # alternate which one goes first, so drift on a shared machine hits both alike
        if i % 2 == 0:
            plain = _plain_locust(lf, demo_server, seconds, tmp_path)
            mine = _perflab(lf, demo_server, seconds, tmp_path)["requests"]
        else:
            mine = _perflab(lf, demo_server, seconds, tmp_path)["requests"]
            plain = _plain_locust(lf, demo_server, seconds, tmp_path)
        assert plain > 0 and mine > 0
        ours.append(mine / seconds)
        theirs.append(plain / seconds)
        ratios.append(mine / plain)
    print(f"\nload throughput, {pairs} alternating pairs of {seconds} s, {USERS} users: perflab median "
          f"{statistics.median(ours):.0f} req/s, plain locust median {statistics.median(theirs):.0f} req/s, "
          f"ratio median {statistics.median(ratios):.3f} (each pair: {', '.join(f'{r:.3f}' for r in ratios)})")
    if full:
        assert statistics.median(ratios) >= 0.95


def test_percentiles_match_exact_ones(demo_server: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    lf = tmp_path / "lf.py"
    lf.write_text(LOCUSTFILE)
    raw = tmp_path / "raw.txt"
    seconds = 6 if _full(request) else 3
    got = _perflab(lf, demo_server, seconds, tmp_path, raw=raw)
    times = np.sort(np.loadtxt(raw) / 1e6)  # seconds
    assert len(times) == got["requests"]
    worst = 0.0
    lines = []
    for key, q in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("max", 100)):
        # the same rank rule as HdrHistogram (nearest rank, rounded half up), so only the histogram's
        # bucketing is measured, not a difference between percentile definitions
        rank = max(1, int(q * len(times) / 100 + 0.5))
        exact = float(times[rank - 1])
        err = abs(got[key] - exact) / exact
        worst = max(worst, err)
        lines.append(f"{key} {got[key] * 1e3:.3f} ms vs exact {exact * 1e3:.3f} ms ({err:.3%})")
    print(f"\npercentiles over {len(times):,} requests: " + "; ".join(lines))
    assert worst <= 0.01
