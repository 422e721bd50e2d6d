"""core.replay_view: a replayed frame's series views equal the live aggregator's, and a frame computes the chart
points, min, max and mean only of the series that are read."""

from __future__ import annotations

import copy
import pickle

import numpy as np

from perflab.core import replay
from perflab.core.aggregate import Aggregator, SeriesView
from perflab.core.model import Sample, labels
from perflab.core.replay import Column, ReplayIndex

SECONDS = 300.0
MAX_POINTS = 20


def _events() -> list[Sample]:
    """10 Hz and 1 Hz series whose values are exact in binary (every sum is exact in any order)."""
    out = []
    for i in range(int(SECONDS * 10)):
        out.append(Sample(i / 10, "proc.cpu", (i % 7) * 0.25, labels(role="target")))
        if i % 10 == 0:
            for e in range(5):
                out.append(Sample(i / 10, "load.rps", float(i % 13 + e), labels(endpoint=f"/e{e}")))
    return out


def _index() -> ReplayIndex:
    cols: dict[tuple, tuple[list[float], list[float]]] = {}
    for e in _events():
        ts, vs = cols.setdefault((e.series, e.labels), ([], []))
        ts.append(e.t)
        vs.append(e.value)
    return ReplayIndex([Column(n, lb, np.array(t), np.array(v)) for (n, lb), (t, v) in cols.items()], [],
                       max_points=MAX_POINTS, duration=SECONDS)


def _live(t: float) -> dict[str, SeriesView]:
    agg = Aggregator(max_points=MAX_POINTS)
    for e in _events():
        if e.t <= t:
            agg.handle(e)
    return dict(agg.snapshot(t).series)


def test_replayed_views_equal_the_live_ones_in_either_order_and_hash_alike():
    index = _index()
    for t in (0.05, 7.3, 123.4, SECONDS):
        live, got = _live(t), index.snapshot_at(t).series
        assert set(got) == set(live)
        for key, want in live.items():
            view = got[key]
            assert type(view) is not SeriesView  # the lazy view is what is compared here
            assert view == want and want == view, (t, key)
            assert hash(view) == hash(want)
            assert view.points == want.points and (view.min, view.max, view.mean) == (want.min, want.max, want.mean)
            assert copy.copy(view) == want and pickle.loads(pickle.dumps(view)) == want
            assert type(pickle.loads(pickle.dumps(view))) is SeriesView  # a pickle needs no index


def test_a_different_view_compares_unequal():
    index = _index()
    a, b = index.snapshot_at(100.0).series, index.snapshot_at(200.0).series
    key = "proc.cpu{role=target}"
    assert a[key] != b[key] and b[key] != a[key]
    assert a[key] != "proc.cpu"


def test_a_frame_computes_only_the_points_and_figures_that_are_read(monkeypatch):
    index = _index()
    calls: list[str] = []
    points, figures = replay._Track.points, replay._Track.figures

    def counting_points(self, *a):  # type: ignore[no-untyped-def]
        calls.append(f"points {self.key}")
        return points(self, *a)

    def counting_figures(self, *a):  # type: ignore[no-untyped-def]
        calls.append(f"figures {self.key}")
        return figures(self, *a)

    monkeypatch.setattr(replay._Track, "points", counting_points)
    monkeypatch.setattr(replay._Track, "figures", counting_figures)
    snap = index.snapshot_at(250.0)  # a seek: every series gets a new view
    assert calls == [] and len(snap.series) == 6
    s = snap.series["load.rps{endpoint=/e3}"]
    assert s.count == 251 and s.last == float(2500 % 13 + 3)  # count and last need nothing more
    assert calls == []
    _ = s.points, s.points, s.max, s.mean
    assert calls == ["points load.rps{endpoint=/e3}", "figures load.rps{endpoint=/e3}"]  # computed once, kept


def test_a_view_kept_from_an_earlier_frame_shows_its_own_time():
    """A view read after frames at other widths (which replace the track's cache of complete buckets) still
    shows the buckets of its own frame."""
    index = _index()
    early = index.snapshot_at(30.0).series  # unread
    assert index.snapshot_at(SECONDS).series["proc.cpu{role=target}"].points  # another width, read
    for key, want in _live(30.0).items():
        assert early[key] == want, key
