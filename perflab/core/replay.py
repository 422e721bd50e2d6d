"""Stored events -> the same event stream and the same snapshots the live run produced.

``ReplayIndex`` keeps a session's samples as time-ordered numpy arrays per labelled series, each with a small
index, and the other events (logs, phases, tables, notices, artifacts, finished) in time order with the positions
of each kind. ``snapshot_at(t)`` builds the snapshot core.aggregate would have produced at ``t`` (same bucket
ladder, same tails, the same sums taken in the same order, hence the same floats) without folding the prefix:

* count and last: one binary search per series;
* min, max and mean: every CHECKPOINT samples a checkpoint holds the running min, max and sequential sum, so the
  figures at any sample are one checkpoint plus at most CHECKPOINT - 1 samples;
* chart points: a snapshot at ``t`` uses the ladder width ``w`` with ``t / w <= max_points``, so each width can
  only ever show the ``max_points + 1`` buckets that start before ``(max_points + 1) * w``. Those buckets are
  summed for every width of the ladder once, as samples are added; a frame takes the complete ones from there and
  sums only the bucket ``t`` falls in (``t / max_points`` seconds of samples);
* phases, progress, finished, artifacts, tables, logs, notices: one binary search per kind (per table name).

A frame therefore costs the same at minute 1 and hour 10: its cost follows the number of series and of their
chart points (at most ``max_points + 1`` each), not the samples before ``t``. Between frames a series whose
sample count at ``t`` has not changed keeps its view (one vectorised test over all series), so playing at 1x
recomputes only the series that got a sample since the previous frame; a seek makes a new view of every series,
whose points, min, max and mean are computed when read (core.replay_view): a screen reads a few series' only.

``extend`` appends samples loaded later (in chunks, off the UI thread) and keeps every part of the index exact.
It is the only writer; ``snapshot_at`` may run at the same time on another thread and sees, per series, the state
before or after an append, never a mix (each series publishes its new state with one assignment).

``events(t0, t1)`` and ``play()`` give the stored events back as a stream, paced by their original timestamps
(1x, 2x, 10x or as fast as possible). ``Player`` is the clock of a replay: position, speed, pause and seek.

Times are seconds since the session started; values are in the series' unit.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import numpy as np

from perflab.core.aggregate import (
    BASE_WIDTH,
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
from perflab.core.replay_view import LazyView

SPEEDS = (1.0, 2.0, 10.0, math.inf)  # inf: as fast as possible
CHECKPOINT = 64  # samples between two checkpoints of the running min, max and sum
_GROWTH = 1.5  # sample buffers grow by this factor: appends cost O(1) amortised, at most a third is slack

Points = tuple[tuple[float, float], ...]
_T = TypeVar("_T")


def speed_name(speed: float) -> str:
    return "max" if math.isinf(speed) else f"{speed:g}x"


def _level(width: float) -> int:
    """The ladder step of ``width`` (``width == BASE_WIDTH * 2**k``)."""
    k, w = 0, BASE_WIDTH
    while w < width:
        w *= 2.0
        k += 1
    return k


@dataclass(frozen=True)
class Column:
    """Samples of one labelled series, sorted by time (``t`` seconds, ``v`` in the series' unit)."""

    name: str
    labels: Labels
    t: np.ndarray
    v: np.ndarray


@dataclass(frozen=True, slots=True)
class _Level:
    """The chart buckets of one ladder width over the first ``m`` samples (those a snapshot at this width can
    use): first sample position, start time (s) and mean of each bucket. The last bucket may be incomplete."""

    m: int
    starts: np.ndarray
    xs: np.ndarray
    means: np.ndarray


_FIRST = np.zeros(1, np.intp)  # np.add.reduceat's indices for "one slice: all of it"
_NO_BUCKETS = _Level(0, np.empty(0, np.int64), np.empty(0), np.empty(0))


def _buckets(t: np.ndarray, v: np.ndarray, s0: int, m: int, width: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Buckets of ``width`` over samples ``s0 .. m-1`` (``s0`` the first sample of a bucket): first positions,
    start times, means. Each bucket is summed by ``np.add.reduceat`` over exactly its own samples, as a fold of
    the whole prefix would, so a bucket's mean does not depend on where the computation started."""
    idx = np.floor(t[s0:m] / width).astype(np.int64)
    new = np.empty(len(idx), dtype=bool)  # where a bucket starts (np.diff's wrappers cost more than the work)
    new[0] = True
    np.not_equal(idx[1:], idx[:-1], out=new[1:])
    rel = new.nonzero()[0]
    counts = np.empty(len(rel), dtype=np.int64)
    np.subtract(rel[1:], rel[:-1], out=counts[:-1])
    counts[-1] = m - s0 - rel[-1]
    return rel + s0, idx[rel] * width, np.add.reduceat(v[s0:m], rel) / counts


def _grow(buf: np.ndarray, used: int, need: int) -> np.ndarray:
    """``buf`` when it holds ``need`` items, else a larger copy of its first ``used``. Readers keep using the
    old buffer safely: a writer only ever writes past what the published state covers."""
    if len(buf) >= need:
        return buf
    out = np.empty(max(need, int(len(buf) * _GROWTH)), dtype=buf.dtype)
    out[:used] = buf[:used]
    return out


@dataclass(frozen=True, slots=True)
class _State:
    """What a reader may use of one series: samples ``t[:n]``, ``v[:n]``; checkpoints ``[: n // CHECKPOINT + 1]``
    where entry ``b`` covers ``v[:b * CHECKPOINT]`` (min, max, and the sum added left to right like the live
    aggregator); one ``_Level`` per ladder width. ``epoch`` changes when samples are inserted out of order."""

    n: int
    t: np.ndarray
    v: np.ndarray
    cmin: np.ndarray
    cmax: np.ndarray
    csum: np.ndarray
    levels: tuple[_Level, ...]
    epoch: int = 0


def _empty(levels: int, epoch: int = 0) -> _State:
    return _State(0, np.empty(0), np.empty(0), np.array([math.inf]), np.array([-math.inf]), np.array([0.0]),
                  (_NO_BUCKETS,) * levels, epoch)


class _Track:
    """One labelled series and its index; ``append`` is the writer, ``view`` a reader of one published state."""

    __slots__ = ("name", "labels", "key", "max_points", "state", "_done")

    def __init__(self, name: str, lbls: Labels, levels: int, max_points: int) -> None:
        self.name = name
        self.labels = lbls
        self.key = series_key(name, lbls)
        self.max_points = max_points
        self.state = _empty(levels)
        self._done: tuple[tuple[int, int], Points] = ((-1, -1), ())  # the reader's points of complete buckets

    def append(self, t: np.ndarray, v: np.ndarray) -> None:
        """Add samples. Those at or after the last one are appended in O(len + one bucket per width); earlier
        ones make a rebuild of the series in time order. Readers see the old state until the new one is whole."""
        if not len(t):
            return
        if len(t) > 1 and bool(np.any(np.diff(t) < 0)):
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
        st = self.state
        if st.n and t[0] < st.t[st.n - 1]:
            merged = np.concatenate([st.t[:st.n], t])
            order = np.argsort(merged, kind="stable")
            self.state = self._appended(_empty(len(st.levels), st.epoch + 1), merged[order],
                                        np.concatenate([st.v[:st.n], v])[order])
        else:
            self.state = self._appended(st, t, v)

    def _appended(self, st: _State, t: np.ndarray, v: np.ndarray) -> _State:
        """``st`` with samples ``t`` (sorted, none before its last) and values ``v`` added after it."""
        n0, n1 = st.n, st.n + len(t)
        tb, vb = _grow(st.t, n0, n1), _grow(st.v, n0, n1)
        tb[n0:n1] = t
        vb[n0:n1] = v
        b0, b1 = n0 // CHECKPOINT, n1 // CHECKPOINT
        cmin, cmax, csum = (_grow(a, b0 + 1, b1 + 1) for a in (st.cmin, st.cmax, st.csum))
        if b1 > b0:
            lo, hi = b0 * CHECKPOINT, b1 * CHECKPOINT
            blocks = vb[lo:hi].reshape(b1 - b0, CHECKPOINT)
            cmin[b0 + 1:b1 + 1] = np.minimum.accumulate(np.append(cmin[b0], blocks.min(axis=1)))[1:]
            cmax[b0 + 1:b1 + 1] = np.maximum.accumulate(np.append(cmax[b0], blocks.max(axis=1)))[1:]
            # a running sum from the last checkpoint, one addition per sample: the live aggregator's order
            csum[b0 + 1:b1 + 1] = np.add.accumulate(np.append(csum[b0], vb[lo:hi]))[CHECKPOINT::CHECKPOINT]
        levels = list(st.levels)
        first = float(t[0])
        for k, old in enumerate(levels):
            width = BASE_WIDTH * 2.0**k
            reach = (self.max_points + 1) * width
            if first > reach:
                continue  # this width only shows samples before its reach: nothing new for it
            m = n0 + int(t.searchsorted(reach, "right"))
            if not len(old.starts):
                levels[k] = _Level(m, *_buckets(tb, vb, 0, m, width))
                continue
            keep = len(old.starts) - 1  # the last bucket may grow: summed again from its first sample
            starts, xs, means = _buckets(tb, vb, int(old.starts[keep]), m, width)
            levels[k] = _Level(m, np.concatenate((old.starts[:keep], starts)), np.concatenate((old.xs[:keep], xs)),
                               np.concatenate((old.means[:keep], means)))
        return _State(n1, tb, vb, cmin, cmax, csum, tuple(levels), st.epoch)

    def view(self, st: _State, n: int, k: int, width: float) -> SeriesView:
        """The series over its first ``n`` samples (n >= 1) at ladder step ``k`` (``width`` seconds), lazily."""
        return LazyView(self, st, n, float(st.v[n - 1]), k, width)

    def figures(self, st: _State, n: int) -> tuple[float, float, float]:
        """Min, max and mean of the first ``n`` samples (n >= 1)."""
        b = n // CHECKPOINT
        seg = st.v[b * CHECKPOINT:n]
        low = float(np.minimum.reduce(seg, initial=st.cmin[b]))  # NaN-propagating, as np.minimum.accumulate
        high = float(np.maximum.reduce(seg, initial=st.cmax[b]))
        total = float(st.csum[b])
        for x in seg.tolist():  # left to right, as the live aggregator and np.cumsum add
            total += x
        return low, high, total / n

    def points(self, st: _State, n: int, k: int, width: float) -> Points:
        """Chart points of the first ``n`` samples (n >= 1) at ladder step ``k`` (``width`` seconds)."""
        level = st.levels[k] if k < len(st.levels) else None
        if level is None or level.m < n:  # a width beyond the ladder the index was built for: fold the prefix
            _, xs, means = _buckets(st.t, st.v, 0, n, width)
            return tuple(zip(xs.tolist(), means.tolist(), strict=True))
        p = int(level.starts.searchsorted(n - 1, "right")) - 1  # the bucket of sample n-1
        (epoch, at), done = self._done
        if epoch != st.epoch or at != k or len(done) < p:
            # every bucket but the level's last is complete and never changes (samples are only appended after
            # it): made into points once, sliced by every frame at this width until a seek to another width
            done = tuple(zip(level.xs[:-1].tolist(), level.means[:-1].tolist(), strict=True))
            self._done = ((st.epoch, k), done)
        s = int(level.starts[p])
        # reduceat, not sum: np.add.reduce may add in another order, reduceat adds a slice the same way anywhere
        part = float(np.add.reduceat(st.v[s:n], _FIRST)[0])
        return done[:p] + ((float(level.xs[p]), part / (n - s)),)


def _put(kind: tuple[list[int], list[_T]], at: int, item: _T) -> None:
    kind[0].append(at)
    kind[1].append(item)


def _latest(kind: tuple[list[int], list[_T]], n: int) -> _T | None:
    """The last item of ``kind`` among the first ``n`` events."""
    i = bisect.bisect_left(kind[0], n)
    return kind[1][i - 1] if i else None


class _Frame:
    """The reader's cache of the previous frame: per series (in index order) its view and the time range
    ``[lo, hi)`` over which its sample count, hence its view, stays the same."""

    def __init__(self, size: int, gen: int, k: int) -> None:
        self.gen = gen
        self.k = k
        self.lo = np.full(size, math.inf)  # empty ranges: everything is computed on first use
        self.hi = np.full(size, -math.inf)
        self.counts = np.zeros(size, np.int64)
        self.views: list[SeriesView | None] = [None] * size


class ReplayIndex:
    """A stored session's events, indexed for ``snapshot_at`` (see the module docstring for the costs). Samples
    come in as columns (``extend`` adds later ones, one writer at a time); ``snapshot_at`` is safe to call while
    ``extend`` runs on another thread. ``duration`` (s) bounds the widths the chart index is built for."""

    def __init__(self, columns: Iterable[Column], others: Iterable[Event], thresholds: Iterable[str] = (),
                 *, max_points: int = MAX_POINTS, duration: float | None = None) -> None:
        columns = [c for c in columns if len(c.t)]
        self.others = sorted(others, key=lambda e: e.t)  # stable: same-time events keep their order
        self.thresholds = tuple(thresholds)
        self.max_points = max_points
        self._times = [e.t for e in self.others]
        self._logs = [e for e in self.others if isinstance(e, Log)]
        self._log_t = [e.t for e in self._logs]
        self._notices = [e for e in self.others if isinstance(e, Notice)]
        self._notice_t = [e.t for e in self._notices]
        # each kind a snapshot keeps the latest (or all) of, with its positions in ``others``
        self._phases: tuple[list[int], list[Phase]] = ([], [])
        self._progress: tuple[list[int], list[float]] = ([], [])
        self._finished: tuple[list[int], list[Finished]] = ([], [])
        self._artifacts: tuple[list[int], list[Artifact]] = ([], [])
        self._tables: dict[str, tuple[list[int], list[Table]]] = {}  # by name, in order of first appearance
        for i, e in enumerate(self.others):
            if isinstance(e, Phase):
                _put(self._phases, i, e)
                if e.progress is not None:
                    _put(self._progress, i, e.progress)
            elif isinstance(e, Table):
                _put(self._tables.setdefault(e.name, ([], [])), i, e)
            elif isinstance(e, Artifact):
                _put(self._artifacts, i, e)
            elif isinstance(e, Finished):
                _put(self._finished, i, e)
        ends = [float(np.max(c.t)) for c in columns] + self._times[-1:]
        self.duration = duration if duration is not None else max(ends, default=0.0)
        self._ladder = _level(bucket_width(self.duration, max_points)) + 1  # widths a snapshot can use
        self._tracks: list[_Track] = []
        self._by_key: dict[tuple[str, Labels], _Track] = {}
        self._gen = 0  # bumped after every published append: the reader's frame cache is then stale
        self._lock = threading.Lock()  # one reader of the frame cache at a time
        self._frame = _Frame(0, -1, -1)
        self.samples = 0
        self._add(columns)
        self.loaded_until = math.inf  # samples with t <= this are in; extend() grows it while loading

    def _add(self, chunk: Iterable[Column]) -> None:
        tracks = list(self._tracks)
        for c in chunk:
            if not len(c.t):
                continue
            tr = self._by_key.get((c.name, c.labels))
            if tr is None:
                tr = self._by_key[(c.name, c.labels)] = _Track(c.name, c.labels, self._ladder, self.max_points)
                tracks.append(tr)
            tr.append(np.asarray(c.t, dtype=float), np.asarray(c.v, dtype=float))
        self._tracks = tracks  # replaced, never mutated: a reader iterates the list it took
        self.samples = sum(tr.state.n for tr in tracks)
        self._gen += 1

    def extend(self, chunk: Iterable[Column], until: float) -> None:
        """Add samples loaded later (each chunk column normally starts after what is loaded of its series; one
        that does not is merged in time order). One writer at a time; safe against a reader on another thread."""
        self._add(chunk)
        self.loaded_until = until

    @property
    def columns(self) -> list[Column]:
        """The loaded samples, one column per labelled series (views, not copies)."""
        out = []
        for tr in self._tracks:
            st = tr.state
            out.append(Column(tr.name, tr.labels, st.t[:st.n], st.v[:st.n]))
        return out

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

    def _series_at(self, t: float, width: float) -> tuple[dict[str, SeriesView], int]:
        k = _level(width)
        with self._lock:
            gen = self._gen  # read before the tracks: an append published meanwhile makes the next frame stale
            tracks = self._tracks
            f = self._frame
            if f.gen != gen or f.k != k or len(f.views) != len(tracks):
                f = self._frame = _Frame(len(tracks), gen, k)
            for i in np.flatnonzero((t < f.lo) | (t >= f.hi)).tolist():
                tr = tracks[i]
                st = tr.state
                n = int(st.t[:st.n].searchsorted(t, "right"))
                f.counts[i] = n
                f.lo[i] = st.t[n - 1] if n else -math.inf
                f.hi[i] = st.t[n] if n < st.n else math.inf
                f.views[i] = tr.view(st, n, k, width) if n else None
            series = {tr.key: vw for tr, vw in zip(tracks, f.views, strict=True) if vw is not None}
            return series, int(f.counts.sum())

    def snapshot_at(self, t: float) -> Snapshot:
        """What the live run showed at ``t`` (clamped to [0, duration])."""
        t = min(max(t, 0.0), self.duration)
        width = bucket_width(t, self.max_points)
        series, samples = self._series_at(t, width)
        n = bisect.bisect_right(self._times, t)  # others[:n] have happened by t
        tables = {name: got for name, kind in self._tables.items() if (got := _latest(kind, n)) is not None}
        artifacts = tuple(self._artifacts[1][:bisect.bisect_left(self._artifacts[0], n)])
        nl = bisect.bisect_right(self._log_t, t)
        nn = bisect.bisect_right(self._notice_t, t)
        return build_snapshot(
            t=t, width=width, series=series, tables=tables, logs=tuple(self._logs[max(0, nl - LOG_TAIL):nl]),
            notices=tuple(self._notices[max(0, nn - NOTICE_TAIL):nn]), artifacts=artifacts,
            phase=_latest(self._phases, n), progress=_latest(self._progress, n),
            finished=_latest(self._finished, n), thresholds=self.thresholds, events=n + samples, samples=samples)

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
