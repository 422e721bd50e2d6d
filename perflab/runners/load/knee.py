"""The knee of a stress curve, reported only when the data show one.

A stress search measures one median latency per load step. A "knee" claims that latency grows slowly up to
some load and faster beyond it. Any curve has a point farthest from its chord, so a geometric rule (Kneedle)
finds a knee on a straight, noisy line too. Here the claim is tested instead:

- the line model: latency = a + b * load (2 parameters);
- the bent model: latency = a + b * load + c * max(0, load - k), continuous at the knee k, with k tried at
  every interior measured load and the best k kept (4 parameters, counting k);
- the F statistic F = ((RSS_line - RSS_bent) / 2) / (RSS_bent / (n - 4)) with (2, n - 4) degrees of freedom.

A knee is reported when p < ``ALPHA`` and the curve bends upward (slope above the knee larger than below).
Counting k as a fitted parameter is the usual approximation for a searched breakpoint (Hudson 1966); the
search makes the test somewhat optimistic, which is why at least ``MIN_POINTS`` steps are needed and the
evidence (F, p, both slopes) is reported with the knee. Loads are in users or requests/s, latency in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # significance level of the F-test
MIN_POINTS = 5  # the bent model has 4 parameters: at least one residual degree of freedom


@dataclass(frozen=True)
class KneeFit:
    """A significant bend: ``at`` (load), slopes in seconds per load unit, the F-test's statistic and p."""

    at: float
    slope_below: float
    slope_above: float
    f: float
    p: float
    n: int

    def describe(self, unit: str) -> str:
        p = "< 0.001" if self.p < 0.001 else f"= {self.p:.3f}"
        return (f"two lines fit the median latency better than one (F = {self.f:.1f}, p {p}, {self.n} steps): "
                f"{self.slope_below * 1e3:.3g} ms per {unit} below, {self.slope_above * 1e3:.3g} ms per {unit} "
                "above")


def _rss(design: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return float(resid @ resid), coef


def find_knee(points: list[tuple[float, float]], alpha: float = ALPHA) -> KneeFit | None:
    """The knee of (load, median latency s) points, or None when a line explains them as well (F-test), the
    curve does not bend upward, or there are fewer than ``MIN_POINTS`` distinct loads."""
    pts = sorted(points)
    xs = np.array([x for x, _ in pts], dtype=float)
    ys = np.array([y for _, y in pts], dtype=float)
    n = len(pts)
    if n < MIN_POINTS or len(set(xs.tolist())) < MIN_POINTS:
        return None
    line = np.column_stack([np.ones(n), xs])
    rss_line, _ = _rss(line, ys)
    scale = max(float(np.max(np.abs(ys))), 1e-12)
    if rss_line <= (1e-12 * scale) ** 2 * n:  # an exact line
        return None
    best: tuple[float, float, np.ndarray] | None = None
    for k in sorted(set(xs[1:-1].tolist())):
        if k <= xs[0] or k >= xs[-1]:
            continue
        bent = np.column_stack([np.ones(n), xs, np.maximum(0.0, xs - k)])
        rss, coef = _rss(bent, ys)
        if best is None or rss < best[1]:
            best = (k, rss, coef)
    if best is None:
        return None
    k, rss_bent, coef = best
    df2 = n - 4
    if rss_bent <= 0.0:
        f, p = math.inf, 0.0
    else:
        from scipy.stats import f as fisher  # heavy: imported only when a fit is made

        f = ((rss_line - rss_bent) / 2.0) / (rss_bent / df2)
        p = float(fisher.sf(f, 2, df2))
    below, above = float(coef[1]), float(coef[1] + coef[2])
    if p >= alpha or above <= below:
        return None
    return KneeFit(at=float(k), slope_below=below, slope_above=above, f=float(f), p=p, n=n)
