"""Growth per iteration: a robust (Theil-Sen) slope with its confidence interval, and the verdict.

Theil-Sen takes the median of all pairwise slopes, so a few garbage-collection steps or allocator jumps do
not move it the way they move a least-squares fit. Units: bytes per iteration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from perflab.core import units


@dataclass(frozen=True)
class Growth:
    slope: float  # bytes per iteration
    low: float  # lower bound of the confidence interval (bytes per iteration)
    high: float
    intercept: float  # bytes
    confidence: float  # e.g. 0.95
    n: int  # points fitted
    min_growth: float  # bytes per iteration below which growth is not called a leak

    @property
    def grows(self) -> bool:
        """A leak is called only when the whole interval lies above zero and the slope is material."""
        return self.low > 0 and self.slope >= self.min_growth

    def label(self) -> str:
        """The verdict in a word or three, for a table cell (the figures sit in the cells beside it)."""
        return "grows" if self.grows else "no growth detected"

    def verdict(self) -> str:
        if not self.grows:
            return "no growth detected"
        pct = f"{self.confidence * 100:g} %"
        return (f"grows ~{_kib(self.slope)} per iteration ({pct} CI {_kib(self.low)} to {_kib(self.high)})")


def _kib(b: float) -> str:
    return f"{b / 1024:.2f} KiB" if abs(b) >= 102.4 else units.size(b)


def fit(values: Sequence[float], *, confidence: float = 0.95, min_growth: float = 64.0) -> Growth:
    """Theil-Sen slope of ``values`` (bytes, one per iteration) against the iteration number."""
    from scipy import stats  # heavy: imported only when a fit is made

    n = len(values)
    if n < 3:
        return Growth(math.nan, math.nan, math.nan, math.nan, confidence, n, min_growth)
    x = list(range(n))
    res = stats.theilslopes(values, x, alpha=confidence, method="separate")
    return Growth(float(res.slope), float(res.low_slope), float(res.high_slope), float(res.intercept),
                  confidence, n, min_growth)
