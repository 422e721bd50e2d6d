"""Descriptive statistics (and, as they land, significance tests, slopes and change points).

Values are plain floats in SI units; nothing here knows where they came from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
