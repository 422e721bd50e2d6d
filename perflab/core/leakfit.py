"""Growth per iteration in the steady state, with an interval that holds for step-shaped growth, and the verdict.

Units: bytes per iteration; series are one value (bytes) per measured iteration.

**The rate.** Memory kept by a leak grows in steps as well as in a line: a list or dict that holds the leaked
objects reallocates its array when it is full (a jump of an eighth to all of its size), allocator arenas come in
blocks. A robust slope (Theil-Sen, the median of pairwise slopes) treats those jumps as outliers and fits the line
between them, so it under-estimates what is really retained per iteration. The rate here is the mean increment,
``(last - first) / (n - 1)``, which counts every step. An isolated spike inside the series never moves it (the
increments telescope); only the first and last points do, and the harness measures each after a full collection.

**The interval.** The residuals of a staircase are not independent, so an interval that assumes they are is far
too narrow. Batch means (the method of simulation output analysis): the increments are cut into at most
``MAX_BATCHES`` consecutive batches whose means are nearly independent once a batch is long compared with the
spacing of the steps; the interval is mean +- t(K-1) * sd(batch means) / sqrt(K). A batch that holds a resize
and one that does not differ, and the interval widens accordingly. The batches are cut from the series after a
running median of five points inside it: that leaves a monotone series (a line, a staircase) exactly as it is, and
removes spikes of one or two points (memory that came and went), which would otherwise widen the interval for
nothing.

**The steady state.** A bounded cache grows until it is full and stays flat after; a fit over the filling phase
calls it a leak. The verdict is therefore on the last regime: a continuous two-segment least-squares fit (a line
with one change of slope) finds the iteration where the slope changed; the split is kept only when both segments
hold at least ``max(MIN_SEGMENT, n / 10)`` points, their rate intervals do not overlap and the rates differ by at
least ``min_growth``. Otherwise the whole series is the steady state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from perflab.core import units

MAX_BATCHES = 10  # batches of increments for the interval (more batches: shorter ones, less independent)
MIN_SEGMENT = 20  # fewest points on each side of a change of slope
MIN_POINTS = 3  # fewest points for a rate at all
MAX_FIT_POINTS = 5000  # points the change-of-slope search fits at most (it thins longer series)


@dataclass(frozen=True)
class Rate:
    """Mean increment of one stretch of a series (bytes per iteration) and its batch-means interval."""

    slope: float
    low: float
    high: float
    batches: int


@dataclass(frozen=True)
class Growth:
    slope: float  # bytes per iteration in the steady state
    low: float  # lower bound of the confidence interval (bytes per iteration)
    high: float
    intercept: float  # bytes at the start of the steady state
    confidence: float  # e.g. 0.95
    n: int  # points in the steady state
    min_growth: float  # bytes per iteration below which growth is not called a leak
    start: int = 0  # index of the first point of the steady state (0: the whole series)
    total: int = 0  # points in the whole series
    before: float = math.nan  # bytes per iteration before ``start`` (nan: no change of slope kept)
    offset: int = 0  # iterations before the series (warm-up), added to the iteration numbers in the verdict

    @property
    def grows(self) -> bool:
        """A leak is called only when the whole interval lies above zero and the slope is material."""
        return self.low > 0 and self.slope >= self.min_growth

    def label(self) -> str:
        """The verdict in a word or three, for a table cell (the figures sit in the cells beside it)."""
        if self.filled:
            return "filled, then flat"
        return "grows" if self.grows else "no growth detected"

    @property
    def filled(self) -> bool:
        """Memory grew and then stopped: the steady state after a change of slope shows no growth."""
        return self.start > 0 and not self.grows and self.before >= self.min_growth

    def verdict(self) -> str:
        if math.isnan(self.slope):
            return f"too few iterations to fit ({self.n})"
        if self.filled:
            return (f"no leak after {self.offset + self.total:,} iterations "
                    f"(filled by iteration {self.offset + self.start + 1:,})")
        if not self.grows:
            return "no growth detected"
        pct = f"{self.confidence * 100:g} %"
        after = f" after iteration {self.offset + self.start + 1:,}" if self.start else ""
        return (f"grows ~{_kib(self.slope)} per iteration{after} "
                f"({pct} CI {_kib(self.low)} to {_kib(self.high)})")


def _kib(b: float) -> str:
    return f"{b / 1024:.2f} KiB" if abs(b) >= 102.4 else units.size(b)


def rate(values: Sequence[float], confidence: float = 0.95) -> Rate:
    """Mean increment of ``values`` with its batch-means interval (nan with fewer than ``MIN_POINTS`` points)."""
    import numpy as np
    from scipy import stats  # heavy: imported only when a fit is made

    y = np.asarray(values, dtype=float)
    if len(y) < MIN_POINTS:
        return Rate(math.nan, math.nan, math.nan, 0)
    d = np.diff(_despike(y))
    mean = float((y[-1] - y[0]) / len(d))
    k = min(MAX_BATCHES, max(2, len(d) // 2))
    means = np.array([b.mean() for b in np.array_split(d, k)])
    half = float(stats.t.ppf(0.5 + confidence / 2, k - 1) * means.std(ddof=1) / math.sqrt(k))
    return Rate(mean, mean - half, mean + half, k)


def _despike(y: Any) -> Any:
    """``y`` with each inner point replaced by the median of the five around it (the ends are kept)."""
    import numpy as np

    if len(y) < 5:
        return y
    out = y.copy()
    out[2:-2] = np.median(np.lib.stride_tricks.sliding_window_view(y, 5), axis=1)
    return out


def change_point(values: Sequence[float]) -> int:
    """Index where a line with one change of slope fits ``values`` best (0 when the series is too short)."""
    import numpy as np

    y = np.asarray(values, dtype=float)
    n = len(y)
    seg = max(MIN_SEGMENT, n // 10)
    if n < 2 * seg + 1:
        return 0
    x = np.arange(n, dtype=float)
    every = max(1, n // MAX_FIT_POINTS)  # long series: the corner is located on every k-th point
    xs, ys = x[::every], y[::every]

    def sse(k: int) -> float:
        design = np.column_stack((np.ones(len(xs)), xs, np.maximum(0.0, xs - k)))
        _, res, _, _ = np.linalg.lstsq(design, ys, rcond=None)
        return float(res[0]) if len(res) else 0.0

    lo, hi = seg, n - seg
    stride = max(1, (hi - lo) // 200)
    best = min(range(lo, hi + 1, stride), key=sse)
    return min(range(max(lo, best - stride), min(hi, best + stride) + 1), key=sse)


def _filled_at(values: Sequence[float], k: int, after: Rate, before: Rate, confidence: float,
               min_growth: float) -> tuple[int, Rate]:
    """Where a fill really ended: the corner of the fitted lines is only near it. When growth slowed, the steady
    state starts at the first point from the corner on whose increment is nearer the later rate than the earlier."""
    if after.slope >= before.slope:
        return k, after
    mid = (before.slope + after.slope) / 2
    start = k
    while start < len(values) - 1 and values[start + 1] - values[start] >= mid:
        start += 1
    if start == k or len(values) - start < max(MIN_SEGMENT, len(values) // 10):
        return k, after
    return start, rate(values[start:], confidence)


def fit(values: Sequence[float], *, confidence: float = 0.95, min_growth: float = 64.0, offset: int = 0) -> Growth:
    """The steady-state growth of ``values`` (bytes, one per iteration; ``offset`` iterations came before)."""
    n = len(values)
    whole = rate(values, confidence)
    if math.isnan(whole.slope):
        return Growth(math.nan, math.nan, math.nan, math.nan, confidence, n, min_growth, 0, n, math.nan, offset)
    k = change_point(values)
    if k:
        before, after = rate(values[:k + 1], confidence), rate(values[k:], confidence)
        apart = before.low > after.high or after.low > before.high
        if apart and abs(before.slope - after.slope) >= min_growth:
            k, after = _filled_at(values, k, after, before, confidence, min_growth)
            return Growth(after.slope, after.low, after.high, float(values[k]), confidence, n - k, min_growth,
                          k, n, before.slope, offset)
    return Growth(whole.slope, whole.low, whole.high, float(values[0]), confidence, n, min_growth, 0, n,
                  math.nan, offset)
