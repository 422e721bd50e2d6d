"""A replayed series' view whose costly figures are computed on first read.

A replayed frame holds a view of every series (500 in a big load test) but a screen reads the chart points, min,
max and mean of a few of them (the plotted lines, the process panel, the thresholds). ``LazyView`` is a
``SeriesView`` that fills ``name``, ``labels``, ``last`` and ``count`` at once and computes ``points`` (up to
``max_points + 1`` pairs) and ``min``, ``max``, ``mean`` from the replay index when first read, then keeps them:
a seek, which makes a new view of every series, then costs a binary search per series instead of building
every series' points.

Invariants: a ``LazyView`` reads one published, immutable state of its series, so it shows the same figures
whenever and on whichever thread it is read; it compares and hashes equal to the eager ``SeriesView`` with the same
figures (the one the live aggregator makes), in either order of comparison.
"""

from __future__ import annotations

from typing import Any, Protocol

from perflab.core.aggregate import SeriesView
from perflab.core.model import Labels

Points = tuple[tuple[float, float], ...]


class Source(Protocol):
    """The series a view reads (core.replay's track): its figures over the first ``n`` samples of state ``st``."""

    name: str
    labels: Labels

    def points(self, st: Any, n: int, k: int, width: float) -> Points: ...

    def figures(self, st: Any, n: int) -> tuple[float, float, float]: ...


class LazyView(SeriesView):
    """``SeriesView`` of ``src`` over the first ``n`` samples of ``st`` at ladder step ``k`` (``width`` s)."""

    __slots__ = ("_src", "_st", "_k", "_width", "_pts", "_figs")
    _src: Source
    _st: Any
    _k: int
    _width: float
    _pts: Points | None
    _figs: tuple[float, float, float] | None

    def __init__(self, src: Source, st: Any, n: int, last: float, k: int, width: float) -> None:
        # the dataclass's own __init__ would store points, min, max and mean: set the eager fields only
        put = object.__setattr__
        put(self, "name", src.name)
        put(self, "labels", src.labels)
        put(self, "last", last)
        put(self, "count", n)
        put(self, "_src", src)
        put(self, "_st", st)
        put(self, "_k", k)
        put(self, "_width", width)
        put(self, "_pts", None)
        put(self, "_figs", None)

    @property
    def points(self) -> Points:
        pts: Points | None = self._pts
        if pts is None:
            pts = self._src.points(self._st, self.count, self._k, self._width)
            object.__setattr__(self, "_pts", pts)
        return pts

    def _figures(self) -> tuple[float, float, float]:
        figs: tuple[float, float, float] | None = self._figs
        if figs is None:
            figs = self._src.figures(self._st, self.count)
            object.__setattr__(self, "_figs", figs)
        return figs

    @property
    def min(self) -> float:
        return self._figures()[0]

    @property
    def max(self) -> float:
        return self._figures()[1]

    @property
    def mean(self) -> float:
        return self._figures()[2]

    def _fields(self) -> tuple[object, ...]:
        return (self.name, self.labels, self.points, self.last, self.min, self.max, self.mean, self.count)

    def __eq__(self, other: object) -> bool:
        # Python asks the subclass first in either order, so SeriesView == LazyView lands here too
        if not isinstance(other, SeriesView):
            return NotImplemented
        return self._fields() == (other.name, other.labels, other.points, other.last, other.min, other.max,
                                  other.mean, other.count)

    def __hash__(self) -> int:
        return hash(self._fields())  # the dataclass's hash: the tuple of its fields

    def __reduce__(self) -> tuple[type[SeriesView], tuple[object, ...]]:
        return SeriesView, self._fields()  # a copy or a pickle is the eager view: it needs no index

    def __repr__(self) -> str:
        return (f"SeriesView(name={self.name!r}, labels={self.labels!r}, points={self.points!r}, "
                f"last={self.last!r}, min={self.min!r}, max={self.max!r}, mean={self.mean!r}, count={self.count!r})")
