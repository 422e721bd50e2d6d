"""Theil-Sen growth fit: slope, interval and verdict on synthetic series with known answers."""

from __future__ import annotations

import random
import re

from perflab.core import leakfit


def test_linear_growth_with_outliers_is_recovered() -> None:
    rng = random.Random(1)
    ys = [1_000_000 + 10_240 * i + rng.gauss(0, 2_000) for i in range(100)]
    ys[10] += 5_000_000  # a one-off jump (a GC step, an arena) must not move a robust slope
    g = leakfit.fit(ys)
    assert abs(g.slope - 10_240) < 300
    assert g.low < g.slope < g.high
    assert g.grows
    assert re.fullmatch(r"grows ~(9\.9\d|10\.[0-2]\d) KiB per iteration \(95 % CI \S+ KiB to \S+ KiB\)",
                        g.verdict()), g.verdict()


def test_flat_series_is_no_growth() -> None:
    rng = random.Random(2)
    g = leakfit.fit([500_000 + rng.choice((0, 0, 0, 4096)) for _ in range(100)])
    assert not g.grows
    assert g.verdict() == "no growth detected"


def test_small_positive_slope_below_floor_is_not_a_leak() -> None:
    g = leakfit.fit([1000 + 8 * i for i in range(50)], min_growth=64)
    assert g.low > 0 and not g.grows


def test_too_few_points() -> None:
    g = leakfit.fit([1.0, 2.0])
    assert not g.grows and g.n == 2
