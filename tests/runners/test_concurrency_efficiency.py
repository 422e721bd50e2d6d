"""Efficiencies above 100 % are explained, on real runs: superlinear batching, and a base rate that drifts.

The base level runs before, between and after the others (1, 2, 1 ...). Two real targets: one where a call
releases a waiting call (group commit: alone, each call waits out a 5 ms timeout; in pairs they release each
other at once), truly superlinear; and one whose calls slow down as the run goes on, as on a machine getting
busier, so an early level beats the median base rate without scaling better than linearly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_headless

pytestmark = pytest.mark.slow

TARGETS = '''
import threading, time

_cv = threading.Condition()
_state = {"waiting": 0, "flushes": 0}

def batched():
    """Group commit: a call waits (at most 5 ms) for a second one; the second releases both."""
    with _cv:
        mine = _state["flushes"]
        _state["waiting"] += 1
        if _state["waiting"] >= 2:
            _state["waiting"] = 0
            _state["flushes"] += 1
            _cv.notify_all()
            return mine
        if not _cv.wait_for(lambda: _state["flushes"] != mine, timeout=0.005):
            _state["waiting"] -= 1
        return mine

_T0 = time.monotonic()

def slowing():
    """1 ms at first, 1 ms more per 0.25 s of the run: a rate that drifts down like a busier machine."""
    time.sleep(0.001 * (1 + 4 * (time.monotonic() - _T0)))
'''


def _efficiency_notes(result: dict[str, Any]) -> list[str]:
    return [n["text"] for n in result["notes"] if " efficiency " in n["text"] and " at level " in n["text"]]


def _every_efficiency_above_one_is_explained(result: dict[str, Any]) -> None:
    notes = _efficiency_notes(result)
    for t in result["data"]["trials"]:
        if t["efficiency"] > 1.0:
            assert any(n.startswith(f"{t['worker']} at level {t['level']}: efficiency") for n in notes), notes


def test_batching_is_called_superlinear_with_the_per_call_times(tmp_path: Path) -> None:
    proc, result = run_headless(tmp_path, """
        name = "batched"
        [target]
        callable = "usercode:batched"
        [test]
        type = "concurrency"
        levels = [1, 2]
        workers = ["threads"]
        duration = "0.3s"
        check = "none"
        gil = false
    """, module=TARGETS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    base, two = result["data"]["trials"]
    assert (base["level"], two["level"]) == (1, 2)
    assert len(base["repeats"]) == 2  # 1, 2, 1: the base level ran before and after level 2
    lo, hi = two["efficiency_range"]
    assert two["efficiency"] > 2 and lo > 1, two  # alone a call waits 5 ms; in pairs hardly at all
    notes = _efficiency_notes(result)
    assert len(notes) == 1 and "threads at level 2" in notes[0] and "is superlinear: a call took" in notes[0]
    assert "against the slowest and fastest of the 2 runs at level 1" in notes[0]
    _every_efficiency_above_one_is_explained(result)
    assert "is superlinear" in proc.stdout


def test_an_early_level_beating_a_drifting_base_rate_is_read_as_linear(tmp_path: Path) -> None:
    proc, result = run_headless(tmp_path, """
        name = "slowing"
        [target]
        callable = "usercode:slowing"
        [test]
        type = "concurrency"
        levels = [1, 2, 4]
        workers = ["threads"]
        duration = "0.25s"
        check = "none"
        gil = false
    """, module=TARGETS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = {t["level"]: t for t in result["data"]["trials"]}
    rates = [r["throughput"] for r in trials[1]["repeats"]]
    assert len(rates) == 3 and rates[0] > 1.5 * rates[-1], rates  # the base rate fell during the run
    two = trials[2]
    assert two["efficiency"] > 1.0 and two["efficiency_range"][0] <= 1.0, two  # beats the median, not the best
    notes = _efficiency_notes(result)
    assert any(n.startswith("threads at level 2") and "within the drift of the level-1 rate" in n for n in notes)
    assert not any("superlinear" in n for n in notes), notes
    _every_efficiency_above_one_is_explained(result)
