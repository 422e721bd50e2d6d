"""Replaying a long stored session: first frame, seeks, and what a frame costs at minute 1 and in the last hour.

Quick by default (CI runs it with --benchmark-disable as a smoke test: a 72 s session of 50 series). The figures
in docs/figures.md come from:

    PERFLAB_REPLAY_PERF_HOURS=10 PERFLAB_REPLAY_PERF_SERIES=500 python3 -m pytest -s -q tests/performance/test_replay_perf.py

The session is written through the real store's recorder: FAST monitor series (proc.cpu, proc.rss, ... of the
target and the server) at 10 Hz, the other series (load.rps per endpoint) at 1 Hz, a log line every 5 s, a phase
every minute, a table every 5 minutes, a notice, artifacts and the Finished event.

* PERFLAB_REPLAY_PERF_STORE=DIR keeps the generated store in DIR and reuses it when it already holds a session of
  the same size (writing 10 hours x 500 series took 2 min 48 s here).
* PERFLAB_REPLAY_PERF_BASELINE=FILE loads another copy of perflab/core/replay.py (the code before a change) and
  measures it side by side with the current one, on the same loaded samples.
* PERFLAB_REPLAY_PERF_STRICT=1 asserts the targets (first frame < 1 s, seek < 200 ms, playing at 1x < 10 % of a
  core). Otherwise the figures are printed and kept in the benchmark's extra_info only: this machine is shared
  and timing asserts would be noise. Frame and seek costs are CPU time of the thread that builds them; in the app,
  first frame and seeks are wall time until painted, playing is the process's CPU time over wall time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from perflab.core import profiles
from perflab.core.model import Artifact, Finished, Level, Log, Notice, Phase, Result, Status, Table, labels
from perflab.lab import session as lab
from perflab.lab.feeds import ReplayFeed
from perflab.store.sessions import SessionStore

HOURS = float(os.environ.get("PERFLAB_REPLAY_PERF_HOURS", "0.02"))
SERIES = int(os.environ.get("PERFLAB_REPLAY_PERF_SERIES", "50"))
FAST = min(SERIES, int(os.environ.get("PERFLAB_REPLAY_PERF_FAST", "8")))  # monitor series at 10 Hz
STRICT = os.environ.get("PERFLAB_REPLAY_PERF_STRICT") == "1"
BASELINE = os.environ.get("PERFLAB_REPLAY_PERF_BASELINE", "")
SEEKS = 20
PLAY_SECONDS = float(os.environ.get("PERFLAB_REPLAY_PERF_PLAY", "10" if HOURS >= 1 else "2"))
PROFILE = """name = "{name}"
thresholds = ["p95 < 200ms", "rps > 10"]
[target]
url = "http://127.0.0.1:1/"
[test]
type = "load"
users = 1
duration = "{duration:g}s"
"""
MONITOR = [(f"proc.{m}", labels(role=r)) for r in ("target", "server") for m in ("cpu", "rss", "threads", "fds")]


def _series(i: int) -> tuple[str, tuple[tuple[str, str], ...], float]:
    """The i-th series: name, labels, rate (Hz)."""
    if i < FAST:
        name, lb = MONITOR[i] if i < len(MONITOR) else ("proc.cpu", labels(role=f"worker{i}"))
        return name, lb, 10.0
    return "load.rps", labels(endpoint=f"/e{i:03d}"), 1.0


def _write(root: Path, name: str, duration: float) -> str:
    """A stored session of ``duration`` seconds; its id."""
    rng = np.random.default_rng(7)
    with SessionStore(root) as st:
        prof = profiles.parse(PROFILE.format(name=name, duration=duration), f"{name}.toml")
        sid = st.create_session(prof, machine={}, git=None)
        rec = st.recorder(sid)
        step = 600.0  # seconds of samples per transaction
        lo = 0.0
        while lo < duration:
            hi = min(duration, lo + step)
            rows: list[Any] = []
            for i in range(SERIES):
                name_, lb, hz = _series(i)
                t = np.arange(math.ceil(lo * hz), math.ceil(hi * hz)) / hz
                v = 100.0 + 20.0 * np.sin(t / 300.0 + i) + rng.normal(0.0, 2.0, len(t))
                rows.extend(zip([name_] * len(t), [lb] * len(t), t.tolist(), v.tolist(), strict=True))
            rec.add_samples(rows)
            for k in range(int(lo // 5), int(math.ceil(hi / 5))):
                if lo <= k * 5 < hi:
                    rec.handle(Log(k * 5.0, f"GET /e{k % 97:03d} 200 in {k % 13} ms", "stdout", "locust"))
                if k % 12 == 0 and lo <= k * 5 < hi:
                    rec.handle(Phase(k * 5.0, "load", f"minute {k // 12}", min(1.0, k * 5.0 / duration)))
                if k % 60 == 0 and lo <= k * 5 < hi:
                    rec.handle(Table(k * 5.0, "top endpoints", ("endpoint", "rps"), ((f"/e{k % 97:03d}", k),)))
            rec.flush()
            lo = hi
        rec.handle(Notice(duration * 0.5, Level.WARNING, "the machine is busy", "machine.busy"))
        rec.handle(Artifact(duration, "locust-csv", "/nonexistent/stats.csv"))
        rec.handle(Finished(duration, Status.PASSED, "done"))
        rec.flush()
        st.finish_session(sid, Result(Status.PASSED), 0, duration)
    return sid


@pytest.fixture(scope="module")
def long_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    duration = HOURS * 3600.0
    name = f"replay-{HOURS:g}h-{SERIES}s-{FAST}f"
    keep = os.environ.get("PERFLAB_REPLAY_PERF_STORE")
    root = Path(keep) if keep else tmp_path_factory.mktemp("replaystore")
    if keep and (root / "perflab.db").exists():
        with SessionStore(root, readonly=True) as st:
            found = st.sessions(profile=name, status="passed", limit=1)
        if found:
            return root, found[0].id, duration
    t0 = time.perf_counter()
    sid = _write(root, name, duration)
    print(f"\nwrote {name} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return root, sid, duration


def _baseline() -> ModuleType | None:
    """The replay module of another checkout (PERFLAB_REPLAY_PERF_BASELINE), imported under its own name."""
    if not BASELINE:
        return None
    spec = importlib.util.spec_from_file_location("perflab_replay_baseline", BASELINE)
    assert spec is not None and spec.loader is not None, BASELINE
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _cpu(fn: Any, *args: Any) -> float:
    """CPU seconds this thread spent in ``fn(*args)``."""
    c = time.thread_time()
    fn(*args)
    return time.thread_time() - c


def _frames(index: Any, start: float, count: int = 30) -> list[float]:
    """CPU seconds of each frame while playing at 1x from ``start`` (a frame every 0.1 s of session time),
    after a first frame there (which is a seek)."""
    index.snapshot_at(start)
    return [_cpu(index.snapshot_at, start + 0.1 * (i + 1)) for i in range(count)]


def _play(index: Any, start: float, seconds: float) -> dict[str, float]:
    """Play at 1x from ``start`` for ``seconds`` of wall time through the real ReplayFeed (10 frames a second);
    the process's CPU time over wall time, and the frames posted."""
    posted: list[float] = []

    async def main() -> None:
        feed = ReplayFeed(index, "perf", "load", speed=1.0)
        task = asyncio.create_task(feed.drive(lambda s: posted.append(s.t)))
        await asyncio.sleep(0)
        feed.seek(start)
        await asyncio.sleep(0.5)  # the seek's frame is not part of steady playing
        posted.clear()
        c, w = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - c, time.perf_counter() - w
        feed.stop()
        await asyncio.wait_for(task, 30)
        figures.update(cpu_share=cpu / wall, frames_per_s=len(posted) / wall)

    figures: dict[str, float] = {}
    asyncio.run(main())
    return figures


def _measure(index: Any, duration: float) -> dict[str, Any]:
    rng = random.Random(11)
    targets = [rng.uniform(0.0, duration) for _ in range(SEEKS)]
    seeks = []
    for t in targets:
        w = time.perf_counter()
        cpu = _cpu(index.snapshot_at, t)
        seeks.append((cpu, time.perf_counter() - w))
    early = min(60.0, duration * 0.1)
    late = max(duration - 60.0, early)
    cold: dict[float, list[float]] = {early: [], late: []}
    for _ in range(5):  # alternating between two widths: every series is recomputed, nothing reused
        for at in (early, late):
            cold[at].append(_cpu(index.snapshot_at, at))
    return {
        "frame_early": statistics.median(_frames(index, early)),
        "frame_late": statistics.median(_frames(index, late)),
        "cold_early": statistics.median(cold[early]), "cold_late": statistics.median(cold[late]),
        # what a frame built from scratch costs follows its chart points (at most max_points per series)
        "points_early": sum(len(v.points) for v in index.snapshot_at(early).series.values()),
        "points_late": sum(len(v.points) for v in index.snapshot_at(late).series.values()),
        "seek_cpu_median": statistics.median(s[0] for s in seeks), "seek_cpu_max": max(s[0] for s in seeks),
        "seek_wall_median": statistics.median(s[1] for s in seeks), "seek_wall_max": max(s[1] for s in seeks),
        **{f"play_{k}": v for k, v in _play(index, max(duration - PLAY_SECONDS - 5.0, 0.0), PLAY_SECONDS).items()},
    }


def _line(label: str, f: dict[str, Any]) -> str:
    return (f"{label}: frame at minute 1 {f['frame_early'] * 1e3:.2f} ms, in the last hour {f['frame_late'] * 1e3:.2f} ms "
            f"(CPU, median of 30 frames at 1x); every series recomputed {f['cold_early'] * 1e3:.1f} ms "
            f"({f['points_early']:,} chart points) / {f['cold_late'] * 1e3:.1f} ms ({f['points_late']:,} points); "
            f"seek CPU median {f['seek_cpu_median'] * 1e3:.0f} ms max "
            f"{f['seek_cpu_max'] * 1e3:.0f} ms (wall {f['seek_wall_median'] * 1e3:.0f} / {f['seek_wall_max'] * 1e3:.0f} ms); "
            f"playing at 1x {f['play_cpu_share'] * 100:.1f} % of a core, {f['play_frames_per_s']:.1f} frames/s")


def test_open_a_long_session_and_show_its_first_frame(benchmark, long_session):
    """What the app's replay does before its first frame: open_replay (session row, other events, the first
    seconds of samples) and the snapshot at 0; then the rest loads in the background."""
    root, sid, duration = long_session
    figures: dict[str, float] = {}

    def run() -> None:
        w, c = time.perf_counter(), time.process_time()
        row, index, rest = lab.open_replay(root, sid)
        snap = index.snapshot_at(0.0)
        figures["first_frame"] = time.perf_counter() - w
        figures["first_frame_cpu"] = time.process_time() - c
        assert snap.t == 0.0 and row.id == sid
        for _ in rest:
            pass
        figures["full_load"] = time.perf_counter() - w
        figures["full_load_cpu"] = time.process_time() - c
        figures["samples"] = index.samples
        figures["end_samples"] = index.snapshot_at(duration).samples

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    print(f"\nreplay of {HOURS:g} h, {SERIES} series ({figures['samples']:,} samples): first frame "
          f"{figures['first_frame'] * 1e3:.0f} ms (CPU {figures['first_frame_cpu'] * 1e3:.0f} ms), all samples "
          f"loaded after {figures['full_load']:.1f} s (CPU {figures['full_load_cpu']:.1f} s, in the background)")
    expected = sum(math.ceil(duration * _series(i)[2]) for i in range(SERIES))
    assert figures["samples"] == figures["end_samples"] == expected
    if STRICT:
        assert figures["first_frame"] < 1.0


def test_frame_cost_does_not_grow_with_position(benchmark, long_session):
    """Frames at minute 1 and in the last hour, seeks to random positions and playing at 1x near the end, on
    the fully loaded session; with PERFLAB_REPLAY_PERF_BASELINE, the same for the other replay module."""
    root, sid, duration = long_session
    _, index = lab.load_replay(root, sid)
    old = _baseline()
    figures: dict[str, Any] = {}

    def run() -> None:
        figures["new"] = _measure(index, duration)
        if old is not None:
            cols = [old.Column(c.name, c.labels, c.t, c.v) for c in index.columns]
            figures["old"] = _measure(old.ReplayIndex(cols, index.others, index.thresholds, duration=duration),
                                      duration)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    new = figures["new"]
    print(f"\nreplay of {HOURS:g} h, {SERIES} series ({index.samples:,} samples)")
    print(_line("new", new))
    if "old" in figures:
        o = figures["old"]
        print(_line("old", o))
        print(f"old/new: frame in the last hour {o['frame_late'] / new['frame_late']:.0f}x, recomputing every series "
              f"{o['cold_late'] / new['cold_late']:.1f}x, seek (CPU median) "
              f"{o['seek_cpu_median'] / new['seek_cpu_median']:.1f}x, playing at 1x "
              f"{o['play_cpu_share'] / new['play_cpu_share']:.1f}x")
    assert new["play_frames_per_s"] > 5  # the feed kept posting frames
    if STRICT:
        assert new["seek_wall_max"] < 0.2 and new["play_cpu_share"] < 0.10
        # a frame's cost does not grow with the position: the last hour within 2x of minute 1 (side by side)
        assert new["frame_late"] < 2 * new["frame_early"] + 1e-4



async def _until(cond: Any, step: float = 0.005) -> None:
    """Poll ``cond`` (the app gives no event for "this attribute changed")."""
    while not cond():  # noqa: ASYNC110
        await asyncio.sleep(step)


async def _painted(screen: Any) -> None:
    done = asyncio.Event()
    screen.call_after_refresh(done.set)
    await done.wait()


async def _seek(screen: Any, chart: Any, target: float, near: float) -> tuple[float, float]:
    """Seek and wait until the panels and the chart show ``target`` (within ``near`` s: a playing replay moves on)
    and are painted: wall seconds, and the process's CPU seconds (event loop and chart thread) meanwhile."""
    w, c = time.perf_counter(), time.process_time()
    screen.feed.seek(target)

    def shown() -> bool:
        return (abs(screen.snap.t - target) <= near and chart.shown_t is not None
                and abs(chart.shown_t - target) <= near)

    await _until(shown)
    await _painted(screen)
    return time.perf_counter() - w, time.process_time() - c


def test_replay_in_the_app(benchmark, long_session):
    """What a person sees, at 100 x 30 cells: the app's first painted frame; seeks until the panels and the chart
    show the new time and are painted, paused and while playing; and the process's CPU while the app plays the
    last minutes at 1x. Seeks are timed in wall time and in the process's CPU time, which the machine's other load
    does not inflate. The figures in docs/figures.md ("replay in the app") come from this test."""
    from perflab.app import PerflabApp
    from perflab.screens.run import RunScreen
    from perflab.widgets.chart import MainChart

    root, sid, duration = long_session
    figures: dict[str, Any] = {}

    async def scenario() -> None:
        app = PerflabApp(Path("/nonexistent-profiles"), root)
        async with app.run_test(size=(100, 30)):
            t0 = time.perf_counter()
            app.open_replay(sid)
            screen = app.screen
            assert isinstance(screen, RunScreen)
            await _until(lambda: screen.snap is not None)
            await _painted(screen)
            figures["first_frame"] = time.perf_counter() - t0
            feed = screen.feed
            await _until(lambda: feed.index.loaded >= 1.0, 0.05)
            figures["full_load"] = time.perf_counter() - t0
            feed.player.pause()
            chart = screen.query_one(MainChart)
            rng = random.Random(5)
            paused = [rng.uniform(0.0, duration) for _ in range(SEEKS // 2)] + [0.0, duration]
            figures["seeks"] = [await _seek(screen, chart, t, 1e-6) for t in paused]
            feed.player.resume()
            playing = []
            for t in [rng.uniform(0.0, duration - 60.0) for _ in range(SEEKS // 2)]:
                playing.append(await _seek(screen, chart, t, 2.0))  # at 1x: the next frames are a second on
                await asyncio.sleep(0.3)  # a chart build of the playing replay may be in progress at the next
            figures["seeks_playing"] = playing
            feed.seek(max(0.0, duration - PLAY_SECONDS - 5.0))
            await asyncio.sleep(1.5)  # the seek's frame and chart are not part of steady playing
            c, w, shown = time.process_time(), time.perf_counter(), screen.snap.t
            await asyncio.sleep(PLAY_SECONDS)
            figures["play_cpu_share"] = (time.process_time() - c) / (time.perf_counter() - w)
            figures["played"] = screen.snap.t - shown

    benchmark.pedantic(lambda: asyncio.run(scenario()), rounds=1, iterations=1)
    benchmark.extra_info.update(figures)

    def ms(seeks: list[tuple[float, float]]) -> str:
        wall, cpu = [s[0] for s in seeks], [s[1] for s in seeks]
        return (f"wall median {statistics.median(wall) * 1e3:.0f} ms max {max(wall) * 1e3:.0f} ms, CPU median "
                f"{statistics.median(cpu) * 1e3:.0f} ms max {max(cpu) * 1e3:.0f} ms ({len(seeks)} seeks)")

    print(f"\nreplay of {HOURS:g} h, {SERIES} series in the app: first painted frame {figures['first_frame'] * 1e3:.0f} ms, "
          f"all loaded after {figures['full_load']:.1f} s; seek until painted, paused: {ms(figures['seeks'])}; "
          f"playing: {ms(figures['seeks_playing'])}; playing at 1x {figures['play_cpu_share'] * 100:.1f} % of a core "
          f"(the whole process: replay, widgets, chart thread; load average {os.getloadavg()[0]:.1f})")
    assert figures["played"] > PLAY_SECONDS * 0.5  # it was playing
    if STRICT:
        every = [s[0] for s in figures["seeks"] + figures["seeks_playing"]]
        assert figures["first_frame"] < 1.0 and max(every) < 0.2 and figures["play_cpu_share"] < 0.10
