"""Smoke run of the wall-time measurement-truth study (walltime_truth.py): one repetition of one target with few
processes, through the real CLI, proves it runs end to end and prints both tools' rates. The rates of one
repetition mean nothing; figures come from `walltime_truth.py --reps 30` on a quiet machine."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_walltime_truth_smoke(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(REPO / "tests/performance/walltime_truth.py"), "--reps", "1",
                        "--targets", "loop", "--max-time", "0.01s", "--processes", "2", "--max-processes", "3",
                        "--baseline-processes", "2", "--timeit-repeats", "1", "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=240, cwd=REPO)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    runs = [json.loads(x) for x in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [x["arm"] for x in runs][:2] == ["measured", "baseline"]
    assert sorted(x["arm"] for x in runs[2:]) == ["A'", "B"]
    assert all(x["processes"] in (2, 3) and x["pb_fails"] in (True, False) for x in runs[2:])
    assert "pytest-benchmark mean:5% fails" in r.stdout and "measured cost" in r.stdout
    again = subprocess.run([sys.executable, str(REPO / "tests/performance/walltime_truth.py"), "--analyze", "--out",
                            str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert again.returncode == 0 and "loop" in again.stdout and "B+10%" in again.stdout
    replayed = subprocess.run([sys.executable, str(REPO / "tests/performance/walltime_truth.py"), "--replay", "--out",
                               str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    judged = {line.split()[1]: line for line in replayed.stdout.splitlines() if line.startswith("  loop ")}
    assert sorted(judged) == ["A'", "B"]  # each arm's one run, judged again
    assert all(sum(int(x) for x in re.findall(r": (\d+)", line)) == 1 for line in judged.values()), judged
