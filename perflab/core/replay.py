"""Stored events -> the same event stream and the same snapshots the live run produced.

``ReplayIndex`` keeps a session's samples as one sorted pair of numpy arrays per labelled series and the other
events (logs, phases, tables, notices, artifacts, finished) in time order. ``snapshot_at(t)`` builds, without
folding the whole prefix, the snapshot core.aggregate would have produced at ``t`` (same bucket ladder, same
tails), so a seek costs a binary search and one bucketed sum per series. ``events(t0, t1)`` and ``play()`` give
the stored events back as a stream, paced by their original timestamps (1x, 2x, 10x or as fast as possible).
``Player`` is the clock of a replay: position, speed, pause and seek.

Times are seconds since the session started.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from perflab.core.aggregate import (
    LOG_TAIL,
    MAX_POINTS,
    NOTICE_TAIL,
    SeriesView,
    Snapshot,
    bucket_width,
    build_snapshot,
    series_key,
)
from perflab.core.model import Artifact, Event, Finished, Labels, Log, Notice, Phase, Sample, Table

SPEEDS = (1.0, 2.0, 10.0, math.inf)  # inf: as fast as possible


def speed_name(speed: float) -> str:
    return "max" if math.isinf(speed) else f"{speed:g}x"


@dataclass(frozen=True)
class Column:
    """All samples of one labelled series, sorted by time (``t`` seconds, ``v`` in the series' unit)."""

    name: str
    labels: Labels
    t: np.ndarray
    v: np.ndarray

    def __post_init__(self) -> None:
        # running extremes make min/max at any t a lookup instead of a scan
        object.__setattr__(self, "cummin", np.minimum.accumulate(self.v) if len(self.v) else self.v)
        object.__setattr__(self, "cummax", np.maximum.accumulate(self.v) if len(self.v) else self.v)
        object.__setattr__(self, "cumsum", np.cumsum(self.v) if len(self.v) else self.v)

    def view(self, t: float, width: float) -> SeriesView | None:
        n = int(np.searchsorted(self.t, t, side="right"))
        if n == 0:
            return None
        idx = np.floor(self.t[:n] / width).astype(np.int64)
        starts = np.flatnonzero(np.diff(idx, prepend=idx[0] - 1))
        sums = np.add.reduceat(self.v[:n], starts)
        counts = np.diff(np.append(starts, n))
        pts = tuple(zip((idx[starts] * width).tolist(), (sums / counts).tolist(), strict=True))
        return SeriesView(self.name, self.labels, pts, float(self.v[n - 1]), float(self.cummin[n - 1]),  # type: ignore[attr-defined]
                          float(self.cummax[n - 1]), float(self.cumsum[n - 1]) / n, n)  # type: ignore[attr-defined]


class ReplayIndex:
    def __init__(self, columns: Iterable[Column], others: Iterable[Event], thresholds: Iterable[str] = (),
                 *, max_points: int = MAX_POINTS, duration: float | None = None) -> None:
        self.columns = [c for c in columns if len(c.t)]
        self.others = sorted(others, key=lambda e: e.t)  # stable: same-time events keep their order
        self.thresholds = tuple(thresholds)
        self.max_points = max_points
        self._times = [e.t for e in self.others]
        self._logs = [e for e in self.others if isinstance(e, Log)]
        self._log_t = [e.t for e in self._logs]
        self._notices = [e for e in self.others if isinstance(e, Notice)]
        self._notice_t = [e.t for e in self._notices]
        ends = [float(c.t[-1]) for c in self.columns] + self._times[-1:]
        self.duration = duration if duration is not None else max(ends, default=0.0)
        self.samples = sum(len(c.t) for c in self.columns)
        self.loaded_until = math.inf  # samples with t <= this are in; extend() grows it while loading

    def extend(self, chunk: Iterable[Column], until: float) -> None:
        """Append later samples (each chunk column starts after what is loaded). Safe against a reader on
        another thread: the column list is replaced, never mutated."""
        cols = {(c.name, c.labels): c for c in self.columns}
        for c in chunk:
            if not len(c.t):
                continue
            old = cols.get((c.name, c.labels))
            cols[(c.name, c.labels)] = c if old is None else Column(
                c.name, c.labels, np.concatenate([old.t, c.t]), np.concatenate([old.v, c.v]))
        self.columns = list(cols.values())
        self.samples = sum(len(c.t) for c in self.columns)
        self.loaded_until = until

    @property
    def loaded(self) -> float:
        """Fraction of the samples' time span loaded (1.0 when complete)."""
        if math.isinf(self.loaded_until) or self.duration <= 0:
            return 1.0
        return min(1.0, self.loaded_until / self.duration)

    @classmethod
    def from_events(cls, events: Iterable[Event], thresholds: Iterable[str] = (), **kw: float) -> ReplayIndex:
        cols: dict[tuple[str, Labels], tuple[list[float], list[float]]] = {}
        others: list[Event] = []
        for e in events:
            if isinstance(e, Sample):
                ts, vs = cols.setdefault((e.series, e.labels), ([], []))
                ts.append(e.t)
                vs.append(e.value)
            else:
                others.append(e)
        columns = []
        for (name, lbls), (ts, vs) in cols.items():
            t, v = np.asarray(ts, dtype=float), np.asarray(vs, dtype=float)
            order = np.argsort(t, kind="stable")
            columns.append(Column(name, lbls, t[order], v[order]))
        return cls(columns, others, thresholds, **kw)  # type: ignore[arg-type]

    def snapshot_at(self, t: float) -> Snapshot:
        """What the live run showed at ``t`` (clamped to [0, duration])."""
        t = min(max(t, 0.0), self.duration)
        width = bucket_width(t, self.max_points)
        series: dict[str, SeriesView] = {}
        samples = 0
        for c in list(self.columns):
            view = c.view(t, width)
            if view is not None:
                series[series_key(c.name, c.labels)] = view
                samples += view.count
        n = bisect.bisect_right(self._times, t)
        past = self.others[:n]
        phase: Phase | None = None
        progress: float | None = None
        finished: Finished | None = None
        tables: dict[str, Table] = {}
        artifacts: list[Artifact] = []
        for e in past:
            if isinstance(e, Phase):
                phase = e
                if e.progress is not None:
                    progress = e.progress
            elif isinstance(e, Table):
                tables[e.name] = e
            elif isinstance(e, Artifact):
                artifacts.append(e)
            elif isinstance(e, Finished):
                finished = e
        nl = bisect.bisect_right(self._log_t, t)
        nn = bisect.bisect_right(self._notice_t, t)
        return build_snapshot(
            t=t, width=width, series=series, tables=tables, logs=tuple(self._logs[max(0, nl - LOG_TAIL):nl]),
            notices=tuple(self._notices[max(0, nn - NOTICE_TAIL):nn]), artifacts=tuple(artifacts), phase=phase,
            progress=progress, finished=finished, thresholds=self.thresholds, events=n + samples,
            samples=samples)

    def events(self, t0: float = -math.inf, t1: float = math.inf) -> Iterator[Event]:
        """Stored events with t0 < t <= t1, in time order (samples first among equal times, like the store)."""
        def col_events(c: Column) -> Iterator[tuple[float, int, int, Event]]:
            lo = int(np.searchsorted(c.t, t0, side="right"))
            hi = int(np.searchsorted(c.t, t1, side="right"))
            for i, (tt, vv) in enumerate(zip(c.t[lo:hi].tolist(), c.v[lo:hi].tolist(), strict=True)):
                yield tt, 0, i, Sample(tt, c.name, vv, c.labels)

        lo = bisect.bisect_right(self._times, t0)
        hi = bisect.bisect_right(self._times, t1)
        rest = ((e.t, 1, i, e) for i, e in enumerate(self.others[lo:hi]))
        for item in heapq.merge(*(col_events(c) for c in self.columns), rest, key=lambda x: (x[0], x[1])):
            yield item[3]


async def play(index: ReplayIndex, handle: Callable[[Event], None], speed: float = 1.0, *,
               start: float = 0.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
               clock: Callable[[], float] = time.monotonic) -> None:
    """Feed the stored events after ``start`` to ``handle``, paced by their timestamps divided by ``speed``."""
    began = clock()
    for e in index.events(start if start > 0 else -math.inf):
        if not math.isinf(speed):
            wait = (e.t - start) / speed - (clock() - began)
            if wait > 0:
                await sleep(wait)
        handle(e)


class PlayState(StrEnum):
    PLAYING = "playing"
    PAUSED = "paused"
    ENDED = "ended"


class Player:
    """The replay clock: position (s) moves at ``speed`` times the wall clock while playing."""

    def __init__(self, duration: float, *, speed: float = 1.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.duration = duration
        self.speed = speed
        self.clock = clock
        self._pos = 0.0
        self._since: float | None = clock()  # wall time when play last resumed, None when paused

    @property
    def playing(self) -> bool:
        return self._since is not None and self.position < self.duration

    @property
    def position(self) -> float:
        if self._since is None:
            return self._pos
        if math.isinf(self.speed):
            return self.duration
        return min(self.duration, self._pos + (self.clock() - self._since) * self.speed)

    def _rebase(self) -> None:
        self._pos = self.position
        if self._since is not None:
            self._since = self.clock()

    def pause(self) -> None:
        self._pos = self.position
        self._since = None

    def resume(self) -> None:
        if self._since is None:
            if self._pos >= self.duration:
                self._pos = 0.0  # play again from the start
            self._since = self.clock()

    def toggle(self) -> None:
        if self._since is None:
            self.resume()
        else:
            self.pause()

    def seek(self, t: float) -> None:
        self._rebase()
        self._pos = min(max(t, 0.0), self.duration)

    def seek_by(self, dt: float) -> None:
        self.seek(self.position + dt)

    def set_speed(self, speed: float) -> None:
        self._rebase()
        self.speed = speed

    def next_speed(self) -> float:
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else -1
        self.set_speed(SPEEDS[(i + 1) % len(SPEEDS)])
        return self.speed

    @property
    def state(self) -> PlayState:
        if self.position >= self.duration:
            return PlayState.ENDED
        return PlayState.PLAYING if self._since is not None else PlayState.PAUSED
