"""The wall-time gate's process schedule and its inconclusive policy, through the real CLI and real
pytest-benchmark processes.

What is asserted must not depend on this shared machine's noise, so the runs are steered by the rules
themselves rather than by timings: ``[gate] min_processes`` makes a side with too few processes unusable (so the
comparison stays undecided for a known number of processes), a 20x slowdown decides at once, and a 100 % tolerance
with ``max_cv = 10`` keeps noise from deciding anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

PROFILE = """\
name = "adapt"
tolerance = "100%"

[gate]
max_cv = 10
baseline_processes = 5
max_processes = 4
{gate}

[target]
callable = "perflab.demo.sorting:counting_sort"
input = "perflab.demo.sorting:random_ints"

[test]
type = "benchmark"
n = [2000]
processes = 2
max_time = "0.02s"
warmup_iterations = 3
"""


def _run(root: Path, gate: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, dict]:
    (root / "adapt.toml").write_text(PROFILE.format(gate=gate))
    out = root / "out.json"
    out.unlink(missing_ok=True)
    r = run_cli("--headless", "adapt.toml", "-q", "--baseline-dir", "bl", "--store", "store", "--json", str(out),
                *args, cwd=root, env={"PERFLAB_DEMO_SLOWDOWN": "", **(env or {})}, timeout=240)
    result = json.loads(out.read_text())["runs"][0]["result"] if out.exists() else {}
    return r.returncode, r.stdout + r.stderr, result


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adapt")
    code, out, result = _run(root, "", "--save-baseline")
    assert code == 0, out
    assert result["data"]["adaptive"] == {"requested": 2, "limit": 5, "ran": 5, "stopped": "", "saving": True}
    assert "5 processes: this run is saved as the baseline" in out
    return root


def test_a_saved_baseline_gets_baseline_processes(root: Path) -> None:
    raw = json.loads((root / "bl" / "adapt.json").read_text())["raw"]
    assert {k: len(v) for k, v in raw.items()} == {"median{benchmark=counting_sort[n=2000]}": 5,
                                                   "relative{benchmark=counting_sort[n=2000]}": 5}


def test_processes_are_added_one_at_a_time_while_the_comparison_is_undecided(root: Path) -> None:
    # 2 and 3 processes are too few for min_processes = 4: the gate cannot judge, so a process is added each time
    code, out, result = _run(root, "min_processes = 4")
    assert code == 0, out
    adaptive = result["data"]["adaptive"]
    assert adaptive["ran"] == 4 and adaptive["limit"] == 4 and adaptive["stopped"] in ("decided", "limit")
    assert "4 processes (2 added one at a time" in out
    assert result["data"]["processes"] == 4 and len(result["raw"]["median{benchmark=counting_sort[n=2000]}"]) == 4


def test_a_decided_comparison_adds_no_process(root: Path) -> None:
    code, out, result = _run(root, "", env={"PERFLAB_DEMO_SLOWDOWN": "19"})
    assert code == 1, out  # 20x slower: decided by the first batch
    assert result["data"]["adaptive"]["ran"] == 2 and "slower: counting_sort[n=2000]" in out


@pytest.mark.parametrize(("policy", "code"), [("fail", 1), ("pass", 0)])
def test_an_inconclusive_gate_says_why_and_the_policy_decides_the_exit(root: Path, policy: str, code: int) -> None:
    # min_processes = 5 is out of reach at max_processes = 4: inconclusive at the limit whatever the timings
    got, out, result = _run(root, f'min_processes = 5\ninconclusive = "{policy}"')
    assert got == code, out
    assert result["data"]["adaptive"]["ran"] == 4 and result["data"]["adaptive"]["stopped"] == "limit"
    assert "still inconclusive at the limit ([gate] max_processes)" in out
    gate = next(n for n in result["notes"] if n["kind"] == "baseline.inconclusive")
    assert gate["text"].startswith(f"regression gate inconclusive (nothing judged), {policy}ed")
    assert "candidate has samples from 4 processes (need 5)" in out  # why
    assert "max_processes" in gate["text"] and 'measure = "instructions"' in gate["text"]  # what to do
    assert gate["level"] == ("error" if policy == "fail" else "warning")
    assert result["status"] == ("failed" if policy == "fail" else "passed")
