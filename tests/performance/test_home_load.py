"""The home screen's reads (every profile file parsed, the last verdict of each from SQLite) off the event loop.

Side by side on the same data: the event-loop lag while the home screen reloads through its worker, and while the
same reads run inline on the loop (as the screen did before). Quick by default; the figures in docs/figures.md
come from

    PERFLAB_HOME_PROFILES=300 PERFLAB_HOME_SESSIONS=5000 PERFLAB_HOME_RELOADS=20 \
        python3 -m pytest -s -q tests/performance/test_home_load.py

Timings are printed, not asserted (a shared machine); what is asserted is that the reloads happened and the
screen shows every profile.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from perflab.app import PerflabApp
from perflab.core.model import Profile, Result, Status, Target, TestSpec
from perflab.lab import session as lab
from perflab.screens.home import HomeScreen
from perflab.store.sessions import SessionStore
from tests.performance.test_tui_perf import _probe, until
from tests.tui.conftest import MINI

PROFILES = int(os.environ.get("PERFLAB_HOME_PROFILES", "60"))
SESSIONS = int(os.environ.get("PERFLAB_HOME_SESSIONS", "500"))
RELOADS = int(os.environ.get("PERFLAB_HOME_RELOADS", "5"))


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    folder, root = tmp_path / "profiles", tmp_path / "store"
    folder.mkdir()
    for i in range(PROFILES):
        (folder / f"p{i:04d}.toml").write_text(MINI.replace('name = "mini"', f'name = "p{i:04d}"'))
    with SessionStore(root) as st:
        for i in range(SESSIONS):
            prof = Profile(f"p{i % PROFILES:04d}", "", Target("callable", "m:f"), TestSpec("benchmark"))
            sid = st.create_session(prof, machine={}, git=None, session_id=f"20260101-{i:06d}-aaaaaa",
                                    started=1_767_225_600.0 + i)
            st.finish_session(sid, Result(Status.PASSED), 0, 1.0)
    return folder, root


def _stats(lags: list[float]) -> dict[str, float]:
    lags = sorted(lags)
    return {"p50": lags[len(lags) // 2], "p99": lags[int(len(lags) * 0.99)], "max": lags[-1], "n": len(lags)}


def test_home_reload_keeps_the_event_loop_free(tmp_path: Path):
    folder, root = _setup(tmp_path)
    figures: dict[str, dict[str, float]] = {}

    async def scenario() -> None:
        app = PerflabApp(folder, root)
        async with app.run_test(size=(80, 24)):
            home = app.screen
            assert isinstance(home, HomeScreen)
            await until(lambda: home.loaded, 0.01)
            for mode in ("worker", "inline"):
                lags: list[float] = []
                done = asyncio.Event()
                probe = asyncio.create_task(_probe(lags, done))
                t0 = time.perf_counter()
                for _ in range(RELOADS):
                    if mode == "worker":
                        generation = home._generation + 1
                        home.action_reload()
                        await until(lambda g=generation: home._generation == g and not any(
                            w.group == "home-load" and not w.is_finished for w in home.workers), 0.005)
                    else:  # the reads the screen used to do on the loop
                        lab.list_profiles(folder, root)
                        await asyncio.sleep(0.02)
                figures[mode] = {**_stats(lags), "seconds": time.perf_counter() - t0}
                done.set()
                await probe
            assert len(home.entries) == PROFILES and home.entries[0].verdict == "passed"

    asyncio.run(scenario())
    w, i = figures["worker"], figures["inline"]
    print(f"\nhome reload x{RELOADS} ({PROFILES} profiles, {SESSIONS} sessions): event-loop lag through the worker "
          f"p99 {w['p99'] * 1e3:.1f} ms max {w['max'] * 1e3:.1f} ms; the same reads inline on the loop "
          f"p99 {i['p99'] * 1e3:.1f} ms max {i['max'] * 1e3:.1f} ms ({w['n']:.0f} and {i['n']:.0f} probes)")
    assert w["n"] > 0 and i["n"] > 0
