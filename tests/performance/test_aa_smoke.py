"""Smoke run of the A/A + injected-slowdown experiment (the real one: see aa_experiment.py and the README).

One repetition of the three arms, two processes each, a few rounds: it proves the experiment runs end to end
through the real CLI and that the analysis prints both tools' verdict rates. The rates from one repetition mean
nothing; the figures in the README come from `aa_experiment.py collect --reps 30`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.performance import aa_experiment
from tests.performance.aa_analysis import analyze, load

pytestmark = pytest.mark.slow


def test_aa_experiment_smoke(tmp_path: Path) -> None:
    aa_experiment.collect(tmp_path, reps=1, processes=2, max_time="0.01s", seed=3)
    runs = [json.loads(x) for x in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["arm"] for r in runs) == ["A", "A2", "B"]
    assert all(len(r["raw"]["median{benchmark=counting_sort[n=10000]}"]) == 2 for r in runs)
    assert len(load(tmp_path)) == 1
    report = analyze(tmp_path, processes=(2,))
    assert "A/A (A' vs A)" in report and "+10 % knob (B vs A)" in report
    assert "pytest-benchmark mean:5% fail" in report and "smallest slowdown" in report
