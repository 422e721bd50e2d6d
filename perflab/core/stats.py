"""Descriptive statistics, the regression gate's comparison of raw samples, and change points.

Values are plain floats in SI units; nothing here knows where they came from.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


def describe(values: Sequence[float]) -> dict[str, float]:
    """min, max, mean, median, stdev (sample), p95, p99, iqr, cv (stdev/mean) and count of ``values``."""
    a = np.asarray(values, dtype=float)
    n = int(a.size)
    if n == 0:
        return {"count": 0.0}
    mean = float(a.mean())
    stdev = float(a.std(ddof=1)) if n > 1 else 0.0
    q1, med, q3, p95, p99 = (float(x) for x in np.percentile(a, [25, 50, 75, 95, 99]))
    return {
        "count": float(n),
        "min": float(a.min()),
        "max": float(a.max()),
        "mean": mean,
        "median": med,
        "stdev": stdev,
        "p95": p95,
        "p99": p99,
        "iqr": q3 - q1,
        "cv": stdev / mean if mean else math.inf,
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation."""
    if not len(values):
        return math.nan
    return float(np.percentile(np.asarray(values, dtype=float), q))


# ---------------------------------------------------------------- comparing two sets of raw samples
#
# Independence: rounds measured inside one process share that process's memory layout, hash seed, CPU
# placement and frequency, so they are not independent draws. The independent unit is the process (pyperf's
# approach). Each side is therefore summarised by its per-process medians. The confidence interval of the
# ratio is the wider of a two-level (hierarchical) bootstrap (resample processes, then rounds within each
# resampled process) and a t interval on the logs of the per-process medians (the wider of Welch's and the pooled
# one): a simulation (tests/performance/aa_analysis.py simulate) showed the bootstrap alone calls 8 % of A/A pairs
# "slower" with 3 processes at 4 % process CV. A Mann-Whitney U test on the per-process medians is reported
# alongside.


class Verdict(StrEnum):
    FASTER = "faster"
    SLOWER = "slower"
    UNCHANGED = "unchanged"
    UNSTABLE = "unstable"  # never passes or fails a gate; ``reason`` says why


@dataclass(frozen=True)
class GateSettings:
    """How strict a comparison is.

    ``tolerance`` is the minimum effect size (ratio, 0.05 = 5 %); ``max_cv`` the largest coefficient of
    variation of the per-process medians before a side is too noisy to judge; ``confidence`` the two-sided
    level of the ratio's confidence interval. ``max_processes`` and ``baseline_processes`` are how many
    processes a timed benchmark run may grow to while its comparison is inconclusive, and runs when it is saved
    as the baseline (runners/benchmark/adaptive.py); ``inconclusive`` is what an inconclusive gate does to the
    run: "pass" or "fail" (exit 1).
    """

    tolerance: float = 0.05
    max_cv: float = 0.10
    min_processes: int = 2
    min_rounds: int = 5
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 12345  # fixed: the same data always gets the same verdict
    max_processes: int = 10
    baseline_processes: int = 10
    inconclusive: str = "pass"


@dataclass(frozen=True)
class SampleComparison:
    """Candidate vs baseline. ``ratio`` = candidate / baseline of the mean of per-process medians
    (above 1 is slower for times); ``low``..``high`` its confidence interval; ``p_value`` the two-sided
    Mann-Whitney U p-value on per-process medians, None when it cannot be computed or could not reach 0.05 with
    so few processes (3 against 3 can give no p below 0.1: printing it would only show a non-significant number
    beside a verdict the interval decided). ``inconclusive``: the verdict is UNSTABLE because the interval is too
    wide to decide at the tolerance (more processes can settle it), not because a side was unusable;
    ``unusable`` names the side that was ("baseline" or "candidate"; "" for none)."""

    verdict: Verdict
    ratio: float
    low: float
    high: float
    p_value: float | None
    baseline: float  # mean of per-process medians, in the samples' unit
    candidate: float
    reason: str = ""
    inconclusive: bool = False
    unusable: str = ""


def process_medians(per_process: Sequence[Sequence[float]]) -> list[float]:
    return [float(np.median(np.asarray(p, dtype=float))) for p in per_process if len(p)]


def center(per_process: Sequence[Sequence[float]]) -> float:
    """The estimate a comparison uses: the mean of per-process medians."""
    meds = process_medians(per_process)
    return float(np.mean(meds)) if meds else math.nan


def cv(values: Sequence[float]) -> float:
    """Coefficient of variation (sample stdev / mean); 0 for fewer than two values."""
    a = np.asarray(values, dtype=float)
    if a.size < 2:
        return 0.0
    m = float(a.mean())
    return float(a.std(ddof=1)) / m if m else math.inf


def _boot_centers(per_process: Sequence[Sequence[float]], rng: np.random.Generator, b: int) -> np.ndarray:
    """``b`` bootstrap replicates of ``center``: resample processes, then rounds within each."""
    procs = [np.asarray(p, dtype=float) for p in per_process if len(p)]
    # level 2 first: b bootstrap medians of every process (rounds resampled with replacement)
    inner = np.empty((len(procs), b))
    for i, x in enumerate(procs):
        idx = rng.integers(0, x.size, size=(b, x.size))
        inner[i] = np.median(x[idx], axis=1)
    # level 1: which processes each replicate draws (with replacement)
    pick = rng.integers(0, len(procs), size=(b, len(procs)))
    return inner[pick, np.arange(b)[:, None]].mean(axis=1)


def bootstrap_ratio_ci(base: Sequence[Sequence[float]], cand: Sequence[Sequence[float]], *,
                       confidence: float = 0.95, resamples: int = 2000, seed: int = 12345
                       ) -> tuple[float, float]:
    """Percentile confidence interval of center(cand) / center(base) by the hierarchical bootstrap."""
    rng = np.random.default_rng(seed)
    ratios = _boot_centers(cand, rng, resamples) / _boot_centers(base, rng, resamples)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return float(lo), float(hi)


def t_ratio_ci(base: Sequence[Sequence[float]], cand: Sequence[Sequence[float]], *,
               confidence: float = 0.95) -> tuple[float, float]:
    """Student t confidence interval of the ratio, on the logs of per-process medians (one value per process): the
    wider of Welch's interval (each side's own spread) and the pooled one (one spread for both sides).

    With 3 to 5 processes the bootstrap above cannot see how uncertain a between-process spread estimated
    from so few values is (3 processes give 10 distinct resamples); Student's t does. Welch's interval alone
    trusts a side's own spread however few processes estimate it: 3 processes that happen to agree within 0.5 %
    (about one run in a hundred when processes really vary by 5 %) give a narrow interval around a run whose
    conditions moved it as a whole. The spread between processes is the benchmark's on this machine, and the
    baseline's 10 processes estimate it better; the pooled interval uses them for both sides. The wider of the two
    is kept, so a side that really became noisier still widens the interval (Welch).
    """
    from scipy.stats import t as student

    lb = np.log(np.asarray(process_medians(base)))
    lc = np.log(np.asarray(process_medians(cand)))
    diff = float(lc.mean() - lb.mean())
    q_level = 1 - (1 - confidence) / 2
    vb, vc = float(lb.var(ddof=1)), float(lc.var(ddof=1))
    # Welch
    wa, wc = vb / lb.size, vc / lc.size
    half = 0.0
    if wa + wc > 0:
        df = (wa + wc) ** 2 / ((wa**2 / (lb.size - 1) if wa else 0.0) + (wc**2 / (lc.size - 1) if wc else 0.0))
        half = float(student.ppf(q_level, df)) * math.sqrt(wa + wc)
    # pooled
    dof = lb.size + lc.size - 2
    pooled = (vb * (lb.size - 1) + vc * (lc.size - 1)) / dof
    half = max(half, float(student.ppf(q_level, dof)) * math.sqrt(pooled * (1 / lb.size + 1 / lc.size)))
    return math.exp(diff - half), math.exp(diff + half)


ALPHA = 0.05  # the significance a printed p-value must be able to reach


def mwu_min_p(n1: int, n2: int) -> float:
    """The smallest two-sided p the Mann-Whitney U test (as :func:`mann_whitney` computes it) can give for samples
    of ``n1`` and ``n2`` values: the p of two completely separated samples (exact for small samples: 2 / C(n1+n2,
    n1), 0.1 for 3 against 3)."""
    if n1 < 2 or n2 < 2:
        return 1.0
    return _min_p(n1, n2)


@functools.lru_cache(maxsize=256)
def _min_p(n1: int, n2: int) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(range(n1), range(n1, n1 + n2), alternative="two-sided").pvalue)


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value (exact for small samples), or None when undefined."""
    if len(a) < 2 or len(b) < 2:
        return None
    from scipy.stats import mannwhitneyu

    try:
        return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    except ValueError:  # all values identical
        return None


def unstable_reason(per_process: Sequence[Sequence[float]], side: str, s: GateSettings) -> str:
    """Why one side's samples cannot support a verdict, or "" when they can."""
    procs = [p for p in per_process if len(p)]
    if not procs:
        return f"{side} has no raw samples"
    if len(procs) == 1:
        return f"{side} has samples from one process only (need {s.min_processes})"
    if len(procs) < s.min_processes:
        return f"{side} has samples from {len(procs)} processes (need {s.min_processes})"
    fewest = min(len(p) for p in procs)
    if fewest < s.min_rounds:
        return f"{side} has a process with {fewest} rounds (need {s.min_rounds})"
    spread = cv(process_medians(procs))
    if spread > s.max_cv:
        return (f"{side} process medians vary by {spread * 100:.1f} % (coefficient of variation; "
                f"limit {s.max_cv * 100:.0f} %)")
    return ""


def compare_samples(base: Sequence[Sequence[float]], cand: Sequence[Sequence[float]],
                    settings: GateSettings | None = None, *, higher_is_better: bool = False
                    ) -> SampleComparison:
    """Judge ``cand`` against ``base`` (raw samples per process, same unit).

    slower: the confidence interval of the ratio excludes 1 and the ratio is beyond the tolerance in the
    bad direction; faster: the same in the good direction; unchanged: otherwise; unstable: too few samples,
    one process only, or process medians too noisy on either side. For times lower is better; pass
    ``higher_is_better`` for rates (ops/s).
    """
    s = settings or GateSettings()
    b_center, c_center = center(base), center(cand)
    ratio = c_center / b_center if b_center else math.nan
    b_reason, c_reason = unstable_reason(base, "baseline", s), unstable_reason(cand, "candidate", s)
    if b_reason or c_reason or not math.isfinite(ratio):
        return SampleComparison(Verdict.UNSTABLE, ratio, math.nan, math.nan, None, b_center, c_center,
                                b_reason or c_reason or "baseline center is zero",
                                unusable="candidate" if c_reason and not b_reason else "baseline")
    # The decision interval is the wider of the two-level bootstrap and the t interval on process medians:
    # the bootstrap sees round-level noise, the t interval the small number of independent processes.
    b_lo, b_hi = bootstrap_ratio_ci(base, cand, confidence=s.confidence, resamples=s.resamples, seed=s.seed)
    t_lo, t_hi = t_ratio_ci(base, cand, confidence=s.confidence)
    lo, hi = min(b_lo, t_lo), max(b_hi, t_hi)
    nb, nc = len(process_medians(base)), len(process_medians(cand))
    p = mann_whitney(process_medians(base), process_medians(cand)) if mwu_min_p(nb, nc) <= ALPHA else None
    worse = ratio < 1 - s.tolerance if higher_is_better else ratio > 1 + s.tolerance
    better = ratio > 1 + s.tolerance if higher_is_better else ratio < 1 - s.tolerance
    significant = lo > 1 or hi < 1
    # "unchanged" is a claim too: it needs the interval to rule out a regression beyond the tolerance
    reaches = lo < 1 - s.tolerance if higher_is_better else hi > 1 + s.tolerance
    if significant and worse:
        return SampleComparison(Verdict.SLOWER, ratio, lo, hi, p, b_center, c_center)
    if significant and better:
        return SampleComparison(Verdict.FASTER, ratio, lo, hi, p, b_center, c_center)
    if reaches:
        why = (f"inconclusive: the {s.confidence * 100:g} % interval of the change ({(lo - 1) * 100:+.1f} % .. "
               f"{(hi - 1) * 100:+.1f} %) reaches beyond the {s.tolerance * 100:g} % tolerance, so a regression "
               "that large is not ruled out")
        return SampleComparison(Verdict.UNSTABLE, ratio, lo, hi, p, b_center, c_center, why, inconclusive=True)
    why = "difference within the tolerance" if significant else "confidence interval includes no change"
    return SampleComparison(Verdict.UNCHANGED, ratio, lo, hi, p, b_center, c_center, why)


def calibration_narrows(plain: tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]],
                        calibrated: tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]],
                        alpha: float = ALPHA) -> tuple[bool, float]:
    """Whether the calibrated samples (round / reference loop) of one benchmark measurably narrow its comparison:
    (decision, spread of the calibrated process medians / spread of the plain ones).

    Each argument is (baseline, candidate) raw samples per process. The spread is the pooled within-side standard
    deviation of the logs of the process medians, which sets the width of the interval (the t interval is built
    on it) and does not depend on the difference between the sides, so choosing by it does not bias the verdict.
    Calibration is kept when an F test finds the calibrated variance smaller at ``alpha`` (one-sided): for code
    like the pure-Python reference loop it cancels the machine's drift; for code whose time is spent in C it often
    does not, and then dividing by the reference only adds the reference's own noise."""
    from scipy.stats import f as fisher

    def pooled(sides: tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]]) -> tuple[float, int]:
        ss, df = 0.0, 0
        for side in sides:
            logs = np.log(np.asarray(process_medians(side), dtype=float))
            if logs.size >= 2:
                ss += float(((logs - logs.mean()) ** 2).sum())
                df += logs.size - 1
        return (ss / df if df else math.nan), df

    v_plain, df_plain = pooled(plain)
    v_cal, df_cal = pooled(calibrated)
    if not (df_plain and df_cal) or not (math.isfinite(v_plain) and math.isfinite(v_cal)) or v_plain <= 0:
        return False, math.nan
    if v_cal <= 0:
        return True, 0.0
    f_stat = v_plain / v_cal
    p = float(fisher.sf(f_stat, df_plain, df_cal))
    return p < alpha, math.sqrt(v_cal / v_plain)


# ---------------------------------------------------------------- change points (E-Divisive means)


@dataclass(frozen=True)
class ChangePoint:
    index: int  # first index of the new segment
    p_value: float
    before: float  # mean of the segment before
    after: float  # mean of the segment after


def _edivisive_stat(x: np.ndarray, min_size: int) -> tuple[int, float]:
    """The best split of ``x`` and its statistic q = τ(n-τ)/n · Ê (Matteson & James 2014, α = 1)."""
    n = x.size
    if n < 2 * min_size:
        return -1, 0.0
    d = np.abs(x[:, None] - x[None, :])
    c = d.cumsum(0).cumsum(1)  # c[i, j] = sum of d[:i+1, :j+1]

    def block(r0: int, r1: int, c0: int, c1: int) -> float:  # sum of d[r0:r1, c0:c1]
        total = c[r1 - 1, c1 - 1]
        if r0:
            total -= c[r0 - 1, c1 - 1]
        if c0:
            total -= c[r1 - 1, c0 - 1]
        if r0 and c0:
            total += c[r0 - 1, c0 - 1]
        return float(total)

    best, best_q = -1, -math.inf
    for tau in range(min_size, n - min_size + 1):
        m = n - tau
        between = block(0, tau, tau, n) * 2 / (tau * m)
        within_l = block(0, tau, 0, tau) / (tau * tau)
        within_r = block(tau, n, tau, n) / (m * m)
        q = tau * m / n * (between - within_l - within_r)
        if q > best_q:
            best, best_q = tau, q
    return best, best_q


def change_points(values: Sequence[float], *, alpha: float = 0.05, permutations: int = 199,
                  min_size: int = 3, seed: int = 7) -> list[ChangePoint]:
    """E-Divisive means change points of ``values`` (in order), each with a permutation p-value.

    Bisection: the best split of every current segment is found; the strongest one is kept when its
    statistic beats all but ``alpha`` of the same statistic on shuffled copies of its segment; repeat until
    none is significant. Segments shorter than ``min_size`` are never produced.
    """
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    bounds = [0, x.size]
    found: dict[int, float] = {}
    while True:
        best: tuple[float, int, int, int] | None = None  # (q, segment start, segment end, split)
        for a, b in zip(bounds, bounds[1:], strict=False):
            tau, q = _edivisive_stat(x[a:b], min_size)
            if tau > 0 and (best is None or q > best[0]):
                best = (q, a, b, a + tau)
        if best is None:
            break
        q, a, b, split = best
        seg = x[a:b].copy()
        exceed = 0
        for _ in range(permutations):
            rng.shuffle(seg)
            if _edivisive_stat(seg, min_size)[1] >= q:
                exceed += 1
        p = (exceed + 1) / (permutations + 1)
        if p > alpha:
            break
        found[split] = p
        bounds = sorted({*bounds, split})
    out = []
    for i, split in enumerate(bounds[1:-1], start=1):
        out.append(ChangePoint(split, found[split], float(x[bounds[i - 1]:split].mean()),
                               float(x[split:bounds[i + 1]].mean())))
    return out
