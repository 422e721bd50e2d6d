"""core.replay's index: every frame equals a fold of every sample up to t, at any t, in any order of frames, while
samples keep arriving in chunks; and a frame's work does not grow with the samples before t."""

from __future__ import annotations

import math
import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from perflab.core.aggregate import Aggregator, bucket_width, series_key
from perflab.core.model import (
    Artifact,
    Finished,
    Level,
    Log,
    Notice,
    Phase,
    Result,
    Sample,
    Status,
    Table,
    labels,
)
from perflab.core.replay import CHECKPOINT, Column, ReplayIndex

MAX_POINTS = 60


def _columns(seconds: float, seed: int = 3) -> list[Column]:
    """Series of different rates and shapes: regular 10 Hz and 1 Hz, irregular times with repeats, a burst,
    a series that starts late, one with a NaN, and large values whose sums round."""
    rng = np.random.default_rng(seed)
    out = []

    def add(name: str, t: np.ndarray, v: np.ndarray, **lb: str) -> None:
        order = np.argsort(t, kind="stable")
        out.append(Column(name, labels(**lb), t[order], v[order]))

    n = int(seconds * 10)
    add("proc.cpu", np.arange(n) / 10, rng.uniform(0, 1, n), role="target")
    add("load.rps", np.arange(int(seconds)) * 1.0, rng.normal(150, 40, int(seconds)), endpoint="all")
    t = np.round(rng.uniform(0, seconds, 3 * n), 1)  # many samples share a time
    add("proc.rss", t, rng.normal(3e7, 1e6, len(t)) * 1e9, role="target")
    burst = np.concatenate([rng.uniform(0, 1, 500), rng.uniform(seconds * 0.6, seconds * 0.61, 700)])
    add("bench.round", burst, rng.lognormal(-6, 1, len(burst)), benchmark="b1")
    late = np.arange(seconds * 0.7, seconds, 0.37)
    add("load.latency.p95", late, rng.uniform(0.01, 0.3, len(late)), endpoint="all")
    odd = rng.uniform(0, seconds, 90)
    v = rng.normal(0, 1, 90)
    v[40] = math.nan
    add("mem.heap", odd, v)
    return out


def _others(seconds: float) -> list:
    ev: list = [Phase(0.0, "start", "go", 0.0)]
    for i in range(1, int(seconds)):
        if i % 3 == 0:
            ev.append(Log(float(i), f"line {i}"))
        if i % 17 == 0:
            ev.append(Phase(float(i), "step", f"step {i}", i / seconds if i % 2 else None))
        if i % 23 == 0:
            ev.append(Table(float(i), "top" if i % 2 else "alloc", ("f", "n"), ((f"f{i}", i),)))
        if i % 41 == 0:
            ev.append(Notice(float(i), Level.WARNING, f"notice {i}", "x"))
            ev.append(Artifact(float(i), "flamegraph", f"/tmp/{i}.svg"))
    ev.append(Finished(seconds, Status.PASSED, "done"))
    return ev


def _fold(c: Column, t: float, width: float) -> tuple | None:
    """The figures of column ``c`` at ``t`` from every sample up to t: count, last, min, max, mean (summed left to
    right), and the chart buckets (start, mean) of ``width`` seconds."""
    n = int(np.searchsorted(c.t, t, side="right"))
    if n == 0:
        return None
    v = c.v[:n]
    total = 0.0
    for x in v.tolist():
        total += x
    idx = np.floor(c.t[:n] / width).astype(np.int64)
    starts = np.flatnonzero(np.diff(idx, prepend=idx[0] - 1))
    sums = np.add.reduceat(v, starts)
    counts = np.diff(np.append(starts, n))
    pts = tuple(zip((idx[starts] * width).tolist(), (sums / counts).tolist(), strict=True))
    low = float(np.minimum.accumulate(v)[-1])
    high = float(np.maximum.accumulate(v)[-1])
    return n, float(v[-1]), low, high, total / n, pts


def _same(x: float, y: float) -> bool:
    return x == y or (math.isnan(x) and math.isnan(y))


def _check(index: ReplayIndex, columns: list[Column], t: float) -> None:
    """index.snapshot_at(t) equals the fold of ``columns`` (all the samples the index holds), float for float."""
    snap = index.snapshot_at(t)
    t = snap.t
    width = bucket_width(t, index.max_points)
    assert snap.width == width
    expected = {series_key(c.name, c.labels): f for c in columns if (f := _fold(c, t, width)) is not None}
    assert set(snap.series) == set(expected), t
    for key, (n, last, low, high, mean, pts) in expected.items():
        s = snap.series[key]
        assert s.count == n and _same(s.last, last), (t, key)
        assert _same(s.min, low) and _same(s.max, high) and _same(s.mean, mean), (t, key, s, low, high, mean)
        assert len(s.points) == len(pts), (t, key)
        assert all(a[0] == b[0] and _same(a[1], b[1]) for a, b in zip(s.points, pts, strict=True)), (t, key)
    assert snap.samples == sum(f[0] for f in expected.values())


def _times(seconds: float, rng: random.Random) -> list[float]:
    """Frame times: random, sample times and bucket edges (exact floats), the ends, beyond both ends."""
    ts = [rng.uniform(0, seconds) for _ in range(60)]
    ts += [k / 10 for k in rng.sample(range(int(seconds * 10)), 20)]
    ts += [k * bucket_width(seconds, MAX_POINTS) for k in range(0, 12)]
    ts += [MAX_POINTS * 0.1 * 2.0**k for k in range(6)]  # where the width doubles
    ts += [0.0, 1e-9, seconds, seconds + 5.0, -1.0]
    return ts


def test_every_frame_equals_the_fold_of_every_sample_up_to_t():
    seconds = 400.0
    cols = _columns(seconds)
    index = ReplayIndex(cols, [], max_points=MAX_POINTS)
    for t in _times(seconds, random.Random(1)):
        _check(index, cols, t)


def test_frames_in_any_order_reuse_nothing_stale():
    """Playing forward in small steps, backward, seeking across widths: the per-series reuse between frames
    gives the same frames as a fresh index."""
    seconds = 300.0
    cols = _columns(seconds, seed=5)
    index = ReplayIndex(cols, [], max_points=MAX_POINTS)
    path = [50 + 0.1 * i for i in range(40)] + [52.0 - 0.05 * i for i in range(30)]
    path += [0.0, 299.0, 23.9, 24.1, 200.0, 200.0, 200.05, 12.0]
    for t in path:
        _check(index, cols, t)


def _chunks(cols: list[Column], cuts: list[float]) -> list[list[Column]]:
    """The columns split at ``cuts`` (lo < t <= hi, as lab.session reads them)."""
    out = []
    for lo, hi in zip([-math.inf, *cuts], [*cuts, math.inf], strict=True):
        out.append([Column(c.name, c.labels, c.t[m], c.v[m]) for c in cols if (m := (c.t > lo) & (c.t <= hi)).any()])
    return out


def _loaded(cols: list[Column], until: float) -> list[Column]:
    return [Column(c.name, c.labels, c.t[m], c.v[m]) for c in cols if (m := c.t <= until).any()]


def test_frames_stay_exact_while_chunks_are_added():
    seconds = 500.0
    cols = _columns(seconds, seed=9)
    cuts = [3.0, 3.05, 40.0, 100.0, 280.0, 281.0]  # chunks of all sizes (one empty), across checkpoints and edges
    chunks = _chunks(cols, cuts)
    index = ReplayIndex(chunks[0], [], max_points=MAX_POINTS, duration=seconds)
    index.loaded_until = cuts[0]
    rng = random.Random(4)
    for until, chunk in zip([*cuts[1:], math.inf], chunks[1:], strict=True):
        have = _loaded(cols, index.loaded_until)
        for t in [rng.uniform(0, seconds) for _ in range(12)] + [min(index.loaded_until, seconds), seconds]:
            _check(index, have, t)  # frames past what is loaded show what is
        index.extend(chunk, until)
    assert index.loaded == 1.0
    for t in [rng.uniform(0, seconds) for _ in range(12)] + [seconds]:
        _check(index, cols, t)
    assert index.samples == sum(len(c.t) for c in cols)


def test_a_chunk_that_goes_back_in_time_is_merged_in_order():
    seconds = 200.0
    cols = _columns(seconds, seed=2)
    late = _loaded(cols, 150.0)
    index = ReplayIndex(late, [], max_points=MAX_POINTS, duration=seconds)
    index.snapshot_at(120.0)  # the frame cache and the points cache hold the state before the merge
    rest = [Column(c.name, c.labels, c.t[c.t > 150.0][::-1], c.v[c.t > 150.0][::-1]) for c in cols]  # unsorted
    early = [Column(c.name, c.labels, c.t[c.t <= 150.0][::2], c.v[c.t <= 150.0][::2]) for c in cols]  # again, some
    index.extend(rest, math.inf)
    index.extend(early, math.inf)
    merged = []
    for c, e in zip(cols, early, strict=True):
        t = np.concatenate([c.t[c.t <= 150.0], e.t, c.t[c.t > 150.0]])
        v = np.concatenate([c.v[c.t <= 150.0], e.v, c.v[c.t > 150.0]])
        order = np.argsort(t, kind="stable")
        merged.append(Column(c.name, c.labels, t[order], v[order]))
    for t in (0.5, 120.0, 150.0, 151.0, seconds):
        s = index.snapshot_at(t)
        ref = {series_key(c.name, c.labels): _fold(c, t, bucket_width(t, MAX_POINTS)) for c in merged}
        for key, f in ref.items():
            if f is None:
                continue
            got = s.series[key]
            assert got.count == f[0] and _same(got.min, f[2]) and _same(got.max, f[3])
            assert got.mean == pytest.approx(f[4], rel=1e-9, nan_ok=True)  # equal times: another adding order
            assert [p[0] for p in got.points] == [p[0] for p in f[5]]


def test_the_other_events_at_every_t_are_the_live_snapshot():
    """Phases, progress, tables, logs, notices, artifacts and finished, at many t, against the live aggregator."""
    seconds = 200.0
    events = sorted([*(Sample(float(t), c.name, float(v), c.labels) for c in _columns(seconds, seed=1)[:2]
                       for t, v in zip(c.t.tolist(), c.v.tolist(), strict=True)), *_others(seconds)],
                    key=lambda e: (e.t, not isinstance(e, Sample)))
    index = ReplayIndex.from_events(events, ["rps > 150"], max_points=MAX_POINTS)
    rng = random.Random(8)
    for at in sorted([rng.uniform(0, seconds) for _ in range(25)] + [0.0, 17.0, 23.0, 41.0, 46.0, seconds]):
        live = Aggregator(["rps > 150"], max_points=MAX_POINTS)
        for e in events:
            if e.t > at:
                break
            live.handle(e)
        a, b = live.snapshot(at), index.snapshot_at(at)
        assert (a.state, a.status, a.phase, a.detail, a.progress) == (b.state, b.status, b.phase, b.detail, b.progress)
        assert a.logs == b.logs and a.notices == b.notices and a.artifacts == b.artifacts, at
        assert list(a.tables.items()) == list(b.tables.items()), at  # same names, same order, latest versions
        assert (a.events, a.samples, a.thresholds) == (b.events, b.samples, b.thresholds), at


def test_a_frame_late_in_a_long_series_allocates_no_more_than_one_early():
    """What a frame touches does not grow with the samples before t: the memory it allocates at the end of a
    long series (a fold of the prefix needs several arrays of its length) stays that of a frame at the start."""
    n = 2_000_000  # 55 hours at 10 Hz
    t = np.arange(n) / 10
    index = ReplayIndex([Column("proc.cpu", (), t, np.sin(t))], [])

    def peak(at: float) -> int:
        index.snapshot_at(0.0)  # another width: the frame at ``at`` starts cold
        tracemalloc.start()
        try:
            index.snapshot_at(at)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    early, late = peak(60.0), peak(t[-1] - 1.0)
    assert late < 4 * early + 64 * 1024 and late < 1 << 20, (early, late)  # a prefix fold: > 16 MB


def test_checkpoints_cover_a_series_shorter_and_longer_than_one_block():
    for n in (1, CHECKPOINT - 1, CHECKPOINT, CHECKPOINT + 1, 5 * CHECKPOINT):
        col = Column("x", (), np.arange(n) * 0.5, np.arange(n, 0, -1) * 1.0)
        index = ReplayIndex([col], [], max_points=MAX_POINTS)
        for k in range(0, n + 1):
            _check(index, [col], k * 0.5 - 0.25)


def test_open_replay_in_small_chunks_equals_the_whole_session(tmp_path: Path):
    """Through the real store: the index lab.session fills chunk by chunk gives, at every step, the frames of
    the samples read so far, and in the end those of the whole session."""
    from perflab.core.model import Profile, Target, TestSpec
    from perflab.lab import session as lab
    from perflab.store.sessions import SessionStore

    seconds = 60.0
    cols = _columns(seconds, seed=6)
    with SessionStore(tmp_path) as st:
        sid = st.create_session(Profile("chunks", "", Target("url", "http://x/"), TestSpec("load")), machine={},
                                git=None)
        rec = st.recorder(sid)
        rec.add_samples([(c.name, c.labels, ti, vi) for c in cols
                         for ti, vi in zip(c.t.tolist(), c.v.tolist(), strict=True) if not math.isnan(vi)])
        for e in _others(seconds):
            rec.handle(e)
        rec.flush()
        st.finish_session(sid, Result(Status.PASSED), 0, seconds)
    stored = [Column(c.name, c.labels, c.t[~np.isnan(c.v)], c.v[~np.isnan(c.v)]) for c in cols]
    row, index, rest = lab.open_replay(tmp_path, sid, first=2.0, chunk=7.0)
    assert index.loaded < 1.0
    steps = 0
    while True:
        _check(index, _loaded(stored, index.loaded_until), min(index.loaded_until, seconds))
        _check(index, _loaded(stored, index.loaded_until), seconds * 0.5)
        if next(rest, None) is None:
            break
        steps += 1
    assert steps >= 8 and index.loaded == 1.0
    for t in _times(seconds, random.Random(2)):
        _check(index, stored, t)


def test_frames_taken_while_another_thread_extends_are_whole_per_series():
    """A reader never sees a torn series: each series in each frame is the fold of its first ``count`` samples."""
    import threading

    seconds = 300.0
    cols = _columns(seconds, seed=12)
    chunks = _chunks(cols, [float(c) for c in range(5, 300, 5)])
    index = ReplayIndex(chunks[0], [], max_points=MAX_POINTS, duration=seconds)
    by_key = {series_key(c.name, c.labels): c for c in cols}
    done = threading.Event()

    def load() -> None:
        for chunk in chunks[1:]:
            index.extend(chunk, math.inf)
        done.set()

    writer = threading.Thread(target=load)
    writer.start()
    rng = random.Random(3)
    frames = 0
    while not done.is_set() or frames < 20:
        snap = index.snapshot_at(rng.uniform(0, seconds))
        frames += 1
        for key, s in snap.series.items():
            c = by_key[key]
            n = s.count
            expected = _fold(Column(c.name, c.labels, c.t[:n], c.v[:n]), snap.t, snap.width)
            assert expected is not None and (s.last, s.min, s.max, s.mean, len(s.points)) == pytest.approx(
                (expected[1], expected[2], expected[3], expected[4], len(expected[5])), nan_ok=True), (snap.t, key)
            assert s.points == expected[5] or any(math.isnan(p[1]) for p in s.points), (snap.t, key)
    writer.join()
    assert frames >= 20
