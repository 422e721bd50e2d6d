"""The leak runner on the real demo: the leaky cache is caught within 20 % and fails the run, its fixed twin is
clean."""

from __future__ import annotations

import textwrap
from pathlib import Path

from perflab.core.model import Sample, Status
from perflab.demo.leaky import PAYLOAD
from tests.conftest import PROFILES
from tests.runners.profiling_helpers import run_profile


def _profile(ref: str, iterations: int = 120) -> str:
    return textwrap.dedent(f"""
        name = "leak-test"
        [target]
        callable = "{ref}"
        [test]
        type = "leak"
        warmup = 40
        iterations = {iterations}
    """)


def test_leaky_cache_growth_within_20_percent(tmp_path: Path) -> None:
    outcome, sink = run_profile(_profile("perflab.demo.leaky:process_record"), tmp_path)
    r = outcome.result
    assert r.status == Status.FAILED, r.message  # a leak fails the run without any threshold
    growth = r.metric("growth_per_iter")
    assert growth is not None and growth.unit == "B"
    assert abs(growth.value - PAYLOAD) / PAYLOAD < 0.20, growth.value
    low, high = r.metric("growth_per_iter_low").value, r.metric("growth_per_iter_high").value
    assert low <= growth.value <= high and low > 0
    assert r.message.startswith("grows ~") and "95 % CI" in r.message
    # the top growing site is the cache line in the demo, with file:line
    assert r.data["sites"][0]["file"].endswith("leaky.py")
    assert any("leaky.py:" in row[0] for t in r.tables for row in t.rows)
    traced = [e for e in sink.of(Sample) if e.series == "leak.traced"]
    assert len(traced) == 120
    assert not r.metric("iteration_time").comparable


def test_fixed_twin_shows_no_growth(tmp_path: Path) -> None:
    outcome, _ = run_profile(_profile("perflab.demo.leaky:process_record_fixed"), tmp_path)
    r = outcome.result
    assert r.status == Status.PASSED, r.message
    assert r.message == "no growth detected"
    assert abs(r.metric("growth_per_iter").value) < 64


def test_script_target_one_iteration_per_run(tmp_path: Path) -> None:
    # a script whose top level appends to a module that stays imported: it leaks across runs
    (tmp_path / "store_mod.py").write_text("KEEP = []\n")
    (tmp_path / "job.py").write_text("import store_mod\nstore_mod.KEEP.append(bytearray(4096))\n")
    text = textwrap.dedent("""
        [target]
        script = "job.py"
        [test]
        type = "leak"
        warmup = 5
        iterations = 60
    """)
    outcome, _ = run_profile(text, tmp_path)
    r = outcome.result
    assert r.status == Status.FAILED, r.message
    assert abs(r.metric("growth_per_iter").value - 4096) / 4096 < 0.2


def test_shipped_leak_profile_loads() -> None:
    from perflab.core import profiles

    p = profiles.load(PROFILES / "leak.toml")
    assert p.test.type == "leak" and p.target.value == "perflab.demo.leaky:process_record"
    assert "growth_per_iter < 1KB" in p.thresholds


def test_shipped_profiles_gate_the_leak_and_pass_the_fix(tmp_path: Path) -> None:
    """The done criterion, through the real CLI: leak.toml finds ~10 KiB/iteration and fails its gate
    (exit 1); leak-fixed.toml reports no growth and passes (exit 0)."""
    import json

    from tests.conftest import run_cli

    env = {"PERFLAB_STORE": str(tmp_path / "store")}
    leaky = run_cli("--headless", str(PROFILES / "leak.toml"), "--json", str(tmp_path / "leak.json"), env=env)
    fixed = run_cli("--headless", str(PROFILES / "leak-fixed.toml"), "--json", str(tmp_path / "fixed.json"),
                    env=env)
    assert leaky.returncode == 1, leaky.stdout + leaky.stderr
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    text = " ".join(leaky.stdout.split())
    assert "grows ~" in text and "threshold" in text and "growth_per_iter < 1KB" in text
    assert "no growth detected" in fixed.stdout
    doc = json.loads((tmp_path / "leak.json").read_text())
    growth = [m for m in doc["runs"][0]["result"]["metrics"] if m["name"] == "growth_per_iter"][0]
    assert growth["unit"] == "B" and abs(growth["value"] - PAYLOAD) / PAYLOAD < 0.2
