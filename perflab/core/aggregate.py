"""Fold a run's events into one frozen ``Snapshot`` that front ends render.

The aggregator is a sink (``handle(event)``) with bounded memory whatever the run's length: every series keeps
at most ``max_points`` time buckets (sum and count per bucket; when the run outgrows them, the bucket width
doubles and neighbouring buckets merge), the log and notice tails are ring buffers, tables keep only their
latest version. Bucket widths follow a fixed ladder (``BASE_WIDTH * 2**k`` seconds, the smallest that fits
the elapsed time), so a snapshot is a pure function of the events up to its time: core.replay rebuilds the very
same snapshot from stored events, which is what "a replay at time t shows what the live run showed at t" needs.

Units: times in seconds since the session start, values in the series' SI unit.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from perflab.core.model import (
    Artifact,
    Event,
    Finished,
    Labels,
    Log,
    Notice,
    Phase,
    Sample,
    Status,
    Table,
)

BASE_WIDTH = 0.1  # seconds: the finest chart bucket
MAX_POINTS = 240  # chart buckets per series (a 80-column chart shows fewer)
LOG_TAIL = 200
NOTICE_TAIL = 50


def bucket_width(t: float, max_points: int = MAX_POINTS) -> float:
    """The ladder width (seconds) for a snapshot at ``t``: the smallest BASE_WIDTH * 2**k with t/w <= max_points."""
    w = BASE_WIDTH
    while t / w > max_points:
        w *= 2.0  # exact: powers of two keep floor(t / 2w) == floor(floor(t / w) / 2)
    return w


def series_key(name: str, lbls: Labels) -> str:
    if not lbls:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in lbls) + "}"


class RunState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


class Check(StrEnum):
    """Live state of one threshold."""

    PENDING = "pending"  # no data yet
    OK = "ok"
    BREACHED = "breached"


@dataclass(frozen=True, slots=True)
class SeriesView:
    """One labelled series: chart points (bucket start s, bucket mean) plus running figures."""

    name: str
    labels: Labels
    points: tuple[tuple[float, float], ...]
    last: float
    min: float
    max: float
    mean: float
    count: int

    @property
    def key(self) -> str:
        return series_key(self.name, self.labels)

    def label(self, name: str, default: str = "") -> str:
        return dict(self.labels).get(name, default)


@dataclass(frozen=True, slots=True)
class ThresholdView:
    text: str
    metric: str
    value: float | None
    state: Check


@dataclass(frozen=True)
class Snapshot:
    """Everything a front end shows at time ``t`` (seconds since the run started)."""

    t: float = 0.0
    state: RunState = RunState.WAITING
    status: Status | None = None
    message: str = ""
    phase: str = ""
    detail: str = ""
    progress: float | None = None  # 0..1
    width: float = BASE_WIDTH  # chart bucket width, seconds
    series: Mapping[str, SeriesView] = field(default_factory=lambda: MappingProxyType({}))
    tables: Mapping[str, Table] = field(default_factory=lambda: MappingProxyType({}))
    logs: tuple[Log, ...] = ()
    notices: tuple[Notice, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    thresholds: tuple[ThresholdView, ...] = ()
    events: int = 0
    samples: int = 0

    def find(self, name: str, **want: str) -> list[SeriesView]:
        """Series called ``name`` whose labels include every ``want`` pair (sorted by key)."""
        items = tuple((k, str(v)) for k, v in want.items())
        return sorted((s for s in self.series.values() if s.name == name and all(i in s.labels for i in items)),
                      key=lambda s: s.key)

    def latest(self, name: str, **want: str) -> float | None:
        found = self.find(name, **want)
        return found[0].last if found else None

    @property
    def sample_rate(self) -> float:
        """Samples per second over the whole run so far."""
        return self.samples / self.t if self.t > 0 else 0.0


# ------------------------------------------------------------------ thresholds, evaluated live

_THRESHOLD = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|<|>=|>)\s*([0-9.eE+-]+)\s*([A-Za-zµ%/]*)\s*$")
_SCALE = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "%": 0.01, "b": 1.0,
          "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1024.0, "mib": 1024.0**2, "gib": 1024.0**3, "/s": 1.0,
          "x": 1.0, "rps": 1.0}
# metric name in a threshold -> (series, labels, how): the live stand-in for the final metric
_LIVE = {
    "p95": ("load.latency.p95", (("endpoint", "all"),), "last"),
    "p99": ("load.latency.p99", (("endpoint", "all"),), "last"),
    "p50": ("load.latency.p50", (("endpoint", "all"),), "last"),
    "rps": ("load.rps", (("endpoint", "all"),), "last"),
    "error_rate": ("load.error_rate", (("endpoint", "all"),), "last"),
    "peak_rss": ("proc.rss", (("role", "target"),), "max"),
    "peak_memory": ("mem.heap", (), "max"),
    "median": ("bench.median", (), "max"),
    "mean": ("bench.median", (), "max"),
}


def _check(text: str, series: Mapping[str, SeriesView], breached: set[str], finished: Status | None
           ) -> ThresholdView:
    m = _THRESHOLD.match(text)
    if m is None:
        return ThresholdView(text, text, None, Check.BREACHED if any(text in b for b in breached) else Check.PENDING)
    metric, op, raw, unit = m.groups()
    value: float | None = None
    live = _LIVE.get(metric.rsplit(".", 1)[-1])
    if live is not None:
        name, want, how = live
        found = [s for s in series.values() if s.name == name and all(i in s.labels for i in want)]
        if found:
            value = max(s.max for s in found) if how == "max" else max(s.last for s in found)
    state = Check.PENDING
    try:
        limit = float(raw) * _SCALE.get(unit.lower(), 1.0)
    except ValueError:
        limit = math.nan
    if value is not None and not math.isnan(limit):
        ok = {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[op]
        state = Check.OK if ok else Check.BREACHED
    if any(text in b for b in breached):
        state = Check.BREACHED  # the engine's final verdict wins over the live estimate
    elif finished == Status.PASSED:
        state = Check.OK
    return ThresholdView(text, metric, value, state)


def check_thresholds(thresholds: Iterable[str], series: Mapping[str, SeriesView], notices: Iterable[Notice],
                     finished: Status | None) -> tuple[ThresholdView, ...]:
    breached = {n.message for n in notices if n.code == "threshold.breach"}
    return tuple(_check(t, series, breached, finished) for t in thresholds)


# ------------------------------------------------------------------ the live aggregator


class _Series:
    __slots__ = ("name", "labels", "buckets", "last", "min", "max", "sum", "count")

    def __init__(self, name: str, lbls: Labels) -> None:
        self.name = name
        self.labels = lbls
        self.buckets: dict[int, list[float]] = {}  # bucket index -> [sum, count]
        self.last = math.nan
        self.min = math.inf
        self.max = -math.inf
        self.sum = 0.0
        self.count = 0

    def rebucket(self) -> None:
        merged: dict[int, list[float]] = {}
        for i, (s, c) in self.buckets.items():
            b = merged.setdefault(i // 2, [0.0, 0.0])
            b[0] += s
            b[1] += c
        self.buckets = merged

    def view(self, width: float) -> SeriesView:
        pts = tuple((i * width, s / c) for i, (s, c) in sorted(self.buckets.items()))
        return SeriesView(self.name, self.labels, pts, self.last, self.min, self.max,
                          self.sum / self.count if self.count else math.nan, self.count)


class Aggregator:
    """A sink that folds events; ``snapshot(t)`` returns the frozen state at ``t`` (default: the last event)."""

    def __init__(self, thresholds: Iterable[str] = (), *, max_points: int = MAX_POINTS,
                 log_tail: int = LOG_TAIL) -> None:
        self.thresholds = tuple(thresholds)
        self.max_points = max_points
        self.width = BASE_WIDTH
        self._series: dict[tuple[str, Labels], _Series] = {}
        self._tables: dict[str, Table] = {}
        self._logs: deque[Log] = deque(maxlen=log_tail)
        self._notices: deque[Notice] = deque(maxlen=NOTICE_TAIL)
        self._artifacts: list[Artifact] = []
        self._phase: Phase | None = None
        self._progress: float | None = None
        self._finished: Finished | None = None
        self.t = 0.0
        self.events = 0
        self.samples = 0

    def _widen(self, t: float) -> None:
        want = bucket_width(t, self.max_points)
        while self.width < want:
            self.width *= 2.0
            for s in self._series.values():
                s.rebucket()

    def handle(self, event: Event) -> None:
        self.events += 1
        if event.t > self.t:
            self.t = event.t
            if event.t / self.width > self.max_points:
                self._widen(event.t)
        if isinstance(event, Sample):
            self.samples += 1
            key = (event.series, event.labels)
            s = self._series.get(key)
            if s is None:
                s = self._series[key] = _Series(event.series, event.labels)
            v = event.value
            b = s.buckets.get(math.floor(event.t / self.width))
            if b is None:
                s.buckets[math.floor(event.t / self.width)] = [v, 1.0]
            else:
                b[0] += v
                b[1] += 1.0
            s.last = v
            s.sum += v
            s.count += 1
            if v < s.min:
                s.min = v
            if v > s.max:
                s.max = v
        elif isinstance(event, Log):
            self._logs.append(event)
        elif isinstance(event, Phase):
            self._phase = event
            if event.progress is not None:
                self._progress = event.progress
        elif isinstance(event, Table):
            self._tables[event.name] = event
        elif isinstance(event, Notice):
            self._notices.append(event)
        elif isinstance(event, Artifact):
            self._artifacts.append(event)
        elif isinstance(event, Finished):
            self._finished = event

    def snapshot(self, t: float | None = None) -> Snapshot:
        at = self.t if t is None else max(t, self.t)
        self._widen(at)
        views = (s.view(self.width) for s in self._series.values())
        series = {v.key: v for v in views}
        return build_snapshot(
            t=at, width=self.width, series=series, tables=self._tables, logs=tuple(self._logs),
            notices=tuple(self._notices), artifacts=tuple(self._artifacts), phase=self._phase,
            progress=self._progress, finished=self._finished, thresholds=self.thresholds,
            events=self.events, samples=self.samples)


def build_snapshot(*, t: float, width: float, series: Mapping[str, SeriesView], tables: Mapping[str, Table],
                   logs: tuple[Log, ...], notices: tuple[Notice, ...], artifacts: tuple[Artifact, ...],
                   phase: Phase | None, progress: float | None, finished: Finished | None,
                   thresholds: tuple[str, ...], events: int, samples: int) -> Snapshot:
    """The one constructor live and replayed snapshots share."""
    if finished is not None:
        state = RunState.FINISHED
    elif events:
        state = RunState.RUNNING
    else:
        state = RunState.WAITING
    status = finished.status if finished is not None else None
    return Snapshot(
        t=t, state=state, status=status, message=finished.message if finished else "",
        phase=phase.name if phase else "", detail=phase.detail if phase else "",
        progress=1.0 if status == Status.PASSED else progress, width=width,
        series=MappingProxyType(dict(series)), tables=MappingProxyType(dict(tables)), logs=logs,
        notices=notices, artifacts=artifacts,
        thresholds=check_thresholds(thresholds, series, notices, status),
        events=events, samples=samples)
