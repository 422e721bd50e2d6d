"""runners/agents/reftimer: the calibration timer pytest-benchmark runs with (benchmark ``calibrate = true``)."""

from __future__ import annotations

import time

import pytest

from perflab.core.compare import compare
from perflab.runners.agents import reftimer


def test_the_virtual_clock_leaves_the_reference_out_of_the_round() -> None:
    reftimer.reset()
    rounds, wall = [], []
    for _ in range(5):
        w0 = time.perf_counter()
        start = reftimer.timer()
        time.sleep(0.002)  # the "round"
        end = reftimer.timer()
        wall.append(time.perf_counter() - w0)
        rounds.append(end - start)
    refs = reftimer.take(5)
    assert refs is not None and len(refs) == 5 and all(r > 0 for r in refs)
    for r, w, ref in zip(rounds, wall, refs, strict=True):
        assert 0.002 <= r < w  # the round, without the two references timed around it
        assert r + ref < w  # the two references (mean ``ref`` each) took wall time the round does not show
    assert reftimer.take(6) is None  # fewer calls than rounds asked for: no calibration
    reftimer.reset()
    assert reftimer.take(1) is None


def test_the_reference_tracks_a_slower_machine() -> None:
    """Timing the reference under the same load as the round is what makes round / reference stable."""
    reftimer.reset()
    reftimer.timer()
    reftimer.timer()
    fast = reftimer.take(1)[0]  # type: ignore[index]
    reftimer.LOOPS *= 4  # a machine four times slower runs the same loop four times longer
    try:
        reftimer.reset()
        reftimer.timer()
        reftimer.timer()
        slow = reftimer.take(1)[0]  # type: ignore[index]
    finally:
        reftimer.LOOPS //= 4
    assert slow > 2 * fast


def test_the_gate_judges_relative_time_where_both_sides_have_it() -> None:
    key_s, key_r = "median{benchmark=f}", "relative{benchmark=f}"
    steady = [[1.0, 1.01, 0.99, 1.0, 1.0]] * 3
    drifting = [[2.0, 2.02, 1.98, 2.0, 2.0], [1.0] * 5, [1.5] * 5]  # the machine's speed moved, not the code
    c = compare({key_s: steady, key_r: steady}, {key_s: drifting, key_r: steady})
    assert [r.key for r in c.rows] == [key_r] and not c.failed
    assert c.rows[0].verdict.value == "unchanged"
    assert c.missing == () and c.new == ()
    # a baseline without the reference (older, or imported from pytest-benchmark): seconds are judged
    c = compare({key_s: steady}, {key_s: drifting, key_r: steady})
    assert [r.key for r in c.rows] == [key_s] and c.new == (key_r,)


@pytest.fixture(autouse=True)
def _clean() -> None:
    reftimer.reset()
