"""The stress knee's F-test on synthetic curves: a straight (noisy) line has no knee, a clear bend has one."""

from __future__ import annotations

import random

import pytest

from perflab.runners.load.knee import find_knee


def _noisy(points: list[tuple[float, float]], rel: float, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(x, y * (1 + rng.gauss(0, rel))) for x, y in points]


@pytest.mark.parametrize("seed", range(20))
def test_straight_noisy_line_has_no_knee(seed: int) -> None:
    """p95 growing linearly with users (plus 3 % noise): Kneedle found a knee here; the F-test must not,
    except at its nominal false-positive rate (seeds fixed, so the outcome is deterministic)."""
    line = [(u, 0.010 + 0.002 * u) for u in (2, 4, 6, 8, 10, 12, 14, 16)]
    assert find_knee(_noisy(line, 0.03, seed)) is None


def test_exact_line_has_no_knee() -> None:
    assert find_knee([(u, 0.01 + 0.001 * u) for u in range(1, 9)]) is None


def test_clear_knee_is_found_with_its_evidence() -> None:
    flat_then_steep = [(u, 0.020 + 0.0002 * u + (0.015 * (u - 20) if u > 20 else 0.0))
                       for u in (5, 10, 15, 20, 25, 30, 35)]
    fit = find_knee(_noisy(flat_then_steep, 0.02, 1))
    assert fit is not None
    assert fit.at == 20
    assert fit.p < 0.05 and fit.f > 10
    assert fit.slope_above > 10 * fit.slope_below
    text = fit.describe("user")
    assert "F = " in text and "ms per user below" in text


def test_too_few_steps_or_a_downward_bend_give_no_knee() -> None:
    assert find_knee([(5, 0.01), (10, 0.011), (15, 0.012), (20, 0.2)]) is None  # 4 points: no test possible
    saturating = [(u, 0.2 - 0.15 * max(0.0, (20 - u) / 15)) for u in (5, 10, 15, 20, 25, 30, 35)]
    assert find_knee(saturating) is None  # flattens out: not a knee of a latency curve
