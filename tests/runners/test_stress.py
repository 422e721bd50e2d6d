"""The stress test type: a real breaking-point search against the demo server's CPU-bound endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perflab.core.model import PerflabError
from perflab.runners.load.stress import parse_slo
from perflab.store.sessions import SessionStore
from tests.conftest import run_cli

STRESS = """
name = "stress-test"
[serve]
command = "demo"
args = ["--cpu-ms", "10"]
[target]
endpoints = [{ path = "/cpu" }]
[test]
type = "stress"
slo = ["p95 < 150ms", "error_rate < 1%"]
start_users = 2
step_users = 10
max_users = 42
step_duration = "1s"
settle = 0.3
refine = 1
recovery_users = 1
recovery_timeout = "10s"
"""


@pytest.mark.slow
def test_stress_finds_breaking_point_and_recovery(tmp_path: Path, store_dir: Path) -> None:
    (tmp_path / "s.toml").write_text(STRESS)
    out = tmp_path / "out.json"
    proc = run_cli("--headless", "-q", str(tmp_path / "s.toml"), "--json", str(out), cwd=tmp_path,
                   env={"PERFLAB_STORE": str(store_dir)}, timeout=150)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads(out.read_text())["runs"][0]
    data = run["result"]["data"]
    curve = data["curve"]
    # /cpu serialises requests on one core: 10 ms each, so 42 users (p95 ~ 420 ms) must break p95 < 150ms
    assert data["first_break"] is not None and data["breaking_point"] is not None, curve
    bp, first_break = data["breaking_point"], data["first_break"]
    assert 2 <= bp < first_break <= 42
    assert first_break - bp < 10  # bisection narrowed the 10-user step
    by_users = {c["users"]: c for c in curve}
    assert by_users[bp]["ok"] and by_users[bp]["p95"] < 0.150
    assert not by_users[first_break]["ok"] and "p95 < 150ms" in by_users[first_break]["broken"]
    assert data["failure_mode"] == "latency"
    assert data["recovery_from"] == first_break or data["recovery_from"] >= first_break
    # recovery is measured at a load that was measured within the objectives, never at the one that broke
    assert data["recovery_load"] == 1 and data["recovery_load"] <= bp
    assert any(n["text"].startswith(f"recovery from {data['recovery_from']} users to 1 users") for n in run["result"]["notes"])
    assert data["recovery_time"] is not None and 0 <= data["recovery_time"] < 10
    metrics = {m["name"]: m["value"] for m in run["result"]["metrics"] if not m["labels"]}
    assert metrics["breaking_point"] == bp and "recovery_time" in metrics
    # the load-vs-p95 / load-vs-error-rate series were recorded, one point per step
    store = SessionStore(store_dir)
    sid = run["session"]
    users = [s.value for s in store.samples(sid, "stress.users")]
    p95 = store.samples(sid, "stress.p95")
    assert len(users) == len(p95) == len(store.samples(sid, "stress.error_rate")) == len(curve)
    assert store.samples(sid, "load.latency.p95")


def test_slo_parsing() -> None:
    objs = parse_slo(["p95 < 500ms", "error_rate < 1%", "rps >= 100", "max<=2s"])
    assert [(o.metric, o.op, o.limit) for o in objs] == [
        ("p95", "<", 0.5), ("error_rate", "<", 0.01), ("rps", ">=", 100.0), ("max", "<=", 2.0)]
    assert objs[0].holds({"p95": 0.4}) and not objs[0].holds({"p95": 0.5})
    with pytest.raises(PerflabError, match=r"test.slo\[1\]: cannot read"):
        parse_slo(["p95 < 1s", "latency is fine"])
    with pytest.raises(PerflabError, match="duration unit"):
        parse_slo(["p95 < 5%"])


@pytest.mark.slow
def test_stress_by_arrival_rate_open_model(tmp_path: Path, store_dir: Path) -> None:
    """Open model: past the server's capacity (/cpu at 10 ms: at most ~100 req/s) the queue, and so p95, grows."""
    (tmp_path / "s.toml").write_text("""
name = "stress-open"
[serve]
command = "demo"
args = ["--cpu-ms", "10"]
[target]
endpoints = [{ path = "/cpu" }]
[test]
type = "stress"
load = "arrival_rate"
slo = ["p95 < 200ms"]
start_rate = 20
step_rate = 60
max_rate = 260
step_duration = "1.5s"
settle = 0.5
refine = 0
recovery_rate = 5
recovery_timeout = "15s"
""")
    out = tmp_path / "out.json"
    proc = run_cli("--headless", "-q", str(tmp_path / "s.toml"), "--json", str(out), cwd=tmp_path,
                   env={"PERFLAB_STORE": str(store_dir)}, timeout=150)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads(out.read_text())["runs"][0]
    data = run["result"]["data"]
    assert data["mode"] == "arrival_rate"
    curve = {c["rate"]: c for c in data["curve"]}
    assert data["breaking_point"] is not None and data["first_break"] is not None, curve
    assert 20 <= data["breaking_point"] < data["first_break"] <= 260
    # below capacity the generator kept the schedule
    assert curve[20]["rps"] == pytest.approx(20, rel=0.3)
    assert curve[data["first_break"]]["p95"] >= 0.200
    assert data["recovery_time"] is not None
    units = {m["name"]: m["unit"] for m in run["result"]["metrics"]}
    assert units["breaking_point"] == "/s"
    assert len(SessionStore(store_dir).samples(run["session"], "stress.rate")) == len(curve)


@pytest.mark.slow
def test_stress_that_breaks_at_the_first_step_fails(tmp_path: Path, store_dir: Path) -> None:
    """/slow answers in 200 ms, so "p95 < 50ms" breaks at the lowest load: exit 1, no breaking point, no
    recovery measured back to the load that broke, no bisection below the start."""
    (tmp_path / "s.toml").write_text("""
name = "stress-low"
[serve]
command = "demo"
args = ["--slow-delay", "0.2"]
[target]
endpoints = [{ path = "/slow" }]
[test]
type = "stress"
slo = ["p95 < 50ms"]
start_users = 2
step_users = 4
max_users = 10
step_duration = "1s"
settle = 0.3
refine = 2
recovery_timeout = "5s"
""")
    out = tmp_path / "out.json"
    proc = run_cli("--headless", "-q", str(tmp_path / "s.toml"), "--json", str(out), cwd=tmp_path,
                   env={"PERFLAB_STORE": str(store_dir)}, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads(out.read_text())["runs"][0]["result"]
    assert result["status"] == "failed"
    assert result["message"].startswith("the objective fails at the lowest load (2 users): p95 < 50ms")
    data = result["data"]
    assert data["broke_at_lowest"] and data["breaking_point"] is None
    assert data["recovery_from"] is None and data["recovery_time"] is None
    assert [c["users"] for c in data["curve"]] == [2]  # nothing measured below or after the start
    assert "breaking_point" not in {m["name"] for m in result["metrics"]}
