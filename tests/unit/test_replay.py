"""core.replay: a replay at time t shows what the live run showed at t; pacing, pause and seek."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from perflab.core.aggregate import Aggregator
from perflab.core.model import Artifact, Finished, Level, Log, Notice, Phase, Sample, Status, Table, labels
from perflab.core.replay import Player, PlayState, ReplayIndex, play


def _run(seconds: float = 40.0, hz: float = 20.0) -> list:
    rng = random.Random(7)
    events: list = [Phase(0.0, "start", "bench", 0.0)]
    n = int(seconds * hz)
    for i in range(n):
        t = i / hz
        events.append(Sample(t, "proc.cpu", rng.random(), labels(role="target")))
        events.append(Sample(t, "load.rps", rng.uniform(100, 200), labels(endpoint="all")))
        if i % 7 == 0:
            events.append(Log(t, f"log {i}"))
        if i % 100 == 0:
            events.append(Phase(t, "step", f"step {i}", i / n))
            events.append(Table(t, "top", ("f", "n"), ((f"f{i}", i),)))
        if i == 300:
            events.append(Notice(t, Level.WARNING, "slow", "x"))
            events.append(Artifact(t, "flamegraph", "/tmp/x.svg"))
    events.append(Finished(seconds, Status.PASSED, "done"))
    return events


def _same(a, b):
    assert a.t == pytest.approx(b.t) and a.width == b.width
    assert (a.state, a.status, a.phase, a.detail, a.progress) == (b.state, b.status, b.phase, b.detail, b.progress)
    assert a.events == b.events and a.samples == b.samples
    assert a.logs == b.logs and a.notices == b.notices and a.artifacts == b.artifacts
    assert dict(a.tables) == dict(b.tables)
    assert a.thresholds == b.thresholds
    assert set(a.series) == set(b.series)
    for k, s in a.series.items():
        r = b.series[k]
        assert (s.count, s.last, s.min, s.max) == (r.count, r.last, r.min, r.max)
        assert [p[0] for p in s.points] == pytest.approx([p[0] for p in r.points])
        assert [p[1] for p in s.points] == pytest.approx([p[1] for p in r.points])


@pytest.mark.parametrize("at", [0.0, 0.33, 5.0, 12.5, 24.04, 31.0, 40.0])
def test_replay_at_t_equals_the_live_snapshot_at_t(at):
    events = _run()
    live = Aggregator(["rps > 150"], max_points=60)
    for e in events:
        if e.t > at:
            break
        live.handle(e)
    index = ReplayIndex.from_events(events, ["rps > 150"], max_points=60)
    _same(live.snapshot(at), index.snapshot_at(at))


def test_events_come_back_in_time_order_within_a_window():
    events = _run(5.0)
    index = ReplayIndex.from_events(events)
    got = list(index.events())
    assert len(got) == len(events)
    assert [e.t for e in got] == sorted(e.t for e in events)
    window = list(index.events(1.0, 2.0))
    assert window and all(1.0 < e.t <= 2.0 for e in window)


def test_play_is_paced_by_timestamps_and_speed():
    index = ReplayIndex.from_events(_run(4.0, 10.0))
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(d: float) -> None:
        slept.append(d)
        now[0] += d

    got: list = []
    asyncio.run(play(index, got.append, 2.0, sleep=fake_sleep, clock=lambda: now[0]))
    assert len(got) == len(list(index.events()))
    assert now[0] == pytest.approx(4.0 / 2.0)  # 4 s of events at 2x take 2 s
    slept.clear()
    asyncio.run(play(index, [].append, math.inf, sleep=fake_sleep, clock=lambda: now[0]))
    assert slept == []


def test_player_pause_seek_speed_and_end():
    now = [0.0]
    p = Player(100.0, clock=lambda: now[0])
    now[0] = 10.0
    assert p.position == pytest.approx(10.0)
    p.set_speed(10.0)
    now[0] = 11.0
    assert p.position == pytest.approx(20.0)
    p.pause()
    now[0] = 50.0
    assert p.position == pytest.approx(20.0) and p.state == PlayState.PAUSED
    p.seek_by(-30.0)
    assert p.position == 0.0
    p.seek(1e9)
    assert p.position == 100.0 and p.state == PlayState.ENDED
    p.resume()  # from the end: starts over
    assert p.position == 0.0 and p.playing
    assert p.next_speed() == math.inf and p.position == 100.0


def test_replay_feed_posts_at_once_on_seek_and_stops():
    from perflab.lab.feeds import ReplayFeed

    index = ReplayIndex.from_events(_run(10.0))
    feed = ReplayFeed(index, "t", "load", tick=30.0, clock=lambda: 0.0)  # frozen clock, a tick never comes
    posted: list = []

    async def main() -> None:
        task = asyncio.create_task(feed.drive(posted.append))
        await asyncio.sleep(0.01)
        assert [s.t for s in posted] == [0.0]
        feed.seek(5.0)
        await asyncio.sleep(0.01)
        assert [s.t for s in posted] == [0.0, 5.0]
        assert posted[-1] == index.snapshot_at(5.0)
        feed.stop()
        await asyncio.wait_for(task, 1.0)

    asyncio.run(main())
