"""core.stats: descriptive figures, the raw-sample comparison behind the gate, E-Divisive change points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perflab.core import stats
from perflab.core.stats import GateSettings, Verdict


def procs(center: float, *, n: int = 5, rounds: int = 60, noise: float = 0.02, spread: float = 0.01,
          seed: int = 0) -> list[list[float]]:
    """Raw rounds per process: each process has its own offset (spread), rounds vary around it (noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        level = center * (1 + rng.normal(0, spread))
        out.append(list(level * (1 + rng.normal(0, noise, rounds))))
    return out


def test_describe_and_percentile_keep_their_contract() -> None:
    d = stats.describe([1.0, 2.0, 3.0, 4.0])
    assert d["count"] == 4 and d["median"] == 2.5 and d["min"] == 1 and d["max"] == 4
    assert d["cv"] == pytest.approx(d["stdev"] / 2.5)
    assert stats.describe([]) == {"count": 0.0}
    assert stats.percentile([1, 2, 3], 50) == 2
    assert math.isnan(stats.percentile([], 50))


def test_center_is_the_mean_of_process_medians() -> None:
    assert stats.center([[1, 2, 3], [10, 20, 30, 40, 50]]) == pytest.approx((2 + 30) / 2)
    assert stats.process_medians([[1, 9, 5], []]) == [5.0]


def test_a_clear_ten_percent_slowdown_is_slower() -> None:
    r = stats.compare_samples(procs(1e-3, seed=1), procs(1.1e-3, seed=2))
    assert r.verdict == Verdict.SLOWER
    assert 1.05 < r.ratio < 1.15
    assert r.low > 1 and r.low <= r.ratio <= r.high
    assert r.p_value is not None and r.p_value < 0.05


def test_a_clear_speedup_is_faster() -> None:
    r = stats.compare_samples(procs(1e-3, seed=3), procs(0.8e-3, seed=4))
    assert r.verdict == Verdict.FASTER and r.high < 1


def test_same_code_is_unchanged_and_the_interval_covers_one() -> None:
    r = stats.compare_samples(procs(1e-3, seed=5), procs(1e-3, seed=6))
    assert r.verdict == Verdict.UNCHANGED
    assert r.low <= 1 <= r.high or abs(r.ratio - 1) <= 0.05


def test_a_significant_change_below_the_tolerance_is_unchanged() -> None:
    base, cand = procs(1e-3, noise=0.002, spread=0.001, seed=7), procs(1.02e-3, noise=0.002, spread=0.001, seed=8)
    r = stats.compare_samples(base, cand, GateSettings(tolerance=0.05))
    assert r.low > 1  # significant ...
    assert r.verdict == Verdict.UNCHANGED and "tolerance" in r.reason  # ... but smaller than the minimum effect
    assert stats.compare_samples(base, cand, GateSettings(tolerance=0.01)).verdict == Verdict.SLOWER


def test_higher_is_better_flips_the_direction_for_rates() -> None:
    r = stats.compare_samples(procs(1000, seed=9), procs(800, seed=10), higher_is_better=True)
    assert r.verdict == Verdict.SLOWER


@pytest.mark.parametrize(("base", "cand", "needle"), [
    ([[1.0] * 50], [[1.0] * 50, [1.0] * 50], "one process only"),
    ([[1.0] * 50, [1.0] * 50], [[1.0, 1.1], [1.0, 1.2]], "rounds (need 5)"),
    ([[]], [[1.0] * 50, [1.0] * 50], "no raw samples"),
    ([[1.0] * 20, [1.5] * 20, [1.0] * 20], [[1.0] * 20, [1.0] * 20], "vary by"),
])
def test_unstable_says_why_and_never_decides(base, cand, needle) -> None:
    r = stats.compare_samples(base, cand)
    assert r.verdict == Verdict.UNSTABLE
    assert needle in r.reason


def test_the_verdict_is_deterministic_for_the_same_data() -> None:
    a, b = procs(1e-3, seed=11), procs(1.04e-3, seed=12)
    assert stats.compare_samples(a, b) == stats.compare_samples(a, b)


def test_rounds_of_one_process_do_not_count_as_independent_evidence() -> None:
    # Two processes per side whose levels differ by chance (5 % apart) with thousands of tight rounds:
    # a pooled-rounds test would call this significant; per-process inference must not.
    base = [[1.00] * 2000, [1.05] * 2000]
    cand = [[1.03] * 2000, [1.08] * 2000]
    r = stats.compare_samples(base, cand, GateSettings(tolerance=0.0))
    assert r.low <= 1.0 <= r.high or r.verdict == Verdict.UNCHANGED


def test_mann_whitney_on_process_medians() -> None:
    assert stats.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    assert stats.mann_whitney([1.0], [2.0]) is None


def test_change_points_find_a_step_where_it_is() -> None:
    rng = np.random.default_rng(0)
    x = list(rng.normal(1.0, 0.02, 20)) + list(rng.normal(1.15, 0.02, 15))
    cps = stats.change_points(x)
    assert [c.index for c in cps] == [20]
    assert cps[0].p_value <= 0.05
    assert cps[0].after / cps[0].before == pytest.approx(1.15, rel=0.03)


def test_change_points_find_two_steps() -> None:
    rng = np.random.default_rng(1)
    x = list(rng.normal(1, 0.01, 15)) + list(rng.normal(1.2, 0.01, 15)) + list(rng.normal(0.9, 0.01, 15))
    assert [c.index for c in stats.change_points(x)] == [15, 30]


def test_no_change_points_in_noise_or_short_series() -> None:
    rng = np.random.default_rng(2)
    assert stats.change_points(list(rng.normal(1, 0.05, 40))) == []
    assert stats.change_points([1.0, 5.0, 1.0]) == []


def test_edivisive_statistic_peaks_at_the_true_split() -> None:
    x = np.array([0.0] * 10 + [1.0] * 10)
    tau, q = stats._edivisive_stat(x, 3)
    assert tau == 10 and q > 0


def _levels(center: float, log_sd: float, n: int) -> list[list[float]]:
    """``n`` processes whose medians have exactly the given spread (log standard deviation), 20 steady rounds each."""
    z = np.linspace(-1, 1, n)
    z = z / z.std(ddof=1)
    return [[center * math.exp(log_sd * x)] * 20 for x in z]


def _welch_half(base: list[list[float]], cand: list[list[float]]) -> float:
    from scipy.stats import t as student

    lb, lc = np.log(stats.process_medians(base)), np.log(stats.process_medians(cand))
    va, vc = lb.var(ddof=1) / lb.size, lc.var(ddof=1) / lc.size
    df = (va + vc) ** 2 / (va**2 / (lb.size - 1) + vc**2 / (lc.size - 1))
    return float(student.ppf(0.975, df) * math.sqrt(va + vc))


def test_three_processes_that_agree_by_chance_do_not_narrow_the_interval() -> None:
    # as measured on a json round trip: the baseline's 10 processes vary by 4.7 %, the candidate's 3 agree within
    # 0.45 % and the run as a whole sits 5.7 % above the baseline (same code)
    base, cand = _levels(1.0, 0.047, 10), _levels(1.057, 0.0045, 3)
    welch = _welch_half(base, cand)
    assert math.log(1.057) - welch > 0  # Welch's interval alone would exclude 1: "slower" at 5 % tolerance
    r = stats.compare_samples(base, cand)
    assert r.verdict == Verdict.UNSTABLE and r.inconclusive, r  # the pooled spread leaves it undecided
    assert math.log(r.high) - math.log(r.ratio) > welch * 1.5
    # a candidate that became noisier keeps Welch's wider interval
    base, cand = _levels(1.0, 0.005, 10), _levels(1.0, 0.05, 3)
    lo, hi = stats.t_ratio_ci(base, cand)
    assert math.log(hi) == pytest.approx(_welch_half(base, cand), rel=1e-6)
    assert math.log(lo) == pytest.approx(-_welch_half(base, cand), rel=1e-6)
