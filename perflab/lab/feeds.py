"""Event sources for a front end: a live recorded run or a stored session's replay.

A feed's ``drive(post)`` runs on the front end's event loop and calls ``post(snapshot)`` at most once per
``tick`` seconds (10 Hz by default), however many events arrive: the screen never sees single samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from perflab.core.aggregate import Aggregator, Snapshot
from perflab.core.engine import Engine, Outcome
from perflab.core.model import Profile
from perflab.core.replay import Player, ReplayIndex
from perflab.lab import session as lab

TICK = 0.1  # seconds between snapshots (10 per second at most)

Post = Callable[[Snapshot], object]  # what it returns is ignored (the app posts a message)


class Feed(Protocol):
    title: str
    test_type: str
    is_replay: bool

    async def drive(self, post: Post) -> Any: ...

    def stop(self) -> None: ...


class LiveFeed:
    """Runs a profile through the engine, recorded as a session, folding its events into snapshots."""

    is_replay = False

    def __init__(self, profile: Profile, root: Path | None, *, tick: float = TICK, workdir: Path | None = None
                 ) -> None:
        self.profile = profile
        self.root = root
        self.tick = tick
        self.workdir = workdir
        self.title = profile.name
        self.test_type = profile.test.type
        self.engine: Engine | None = None
        self._stop_asked = False

    def _attach(self, engine: Engine) -> None:
        self.engine = engine
        if self._stop_asked:
            engine.stop()

    async def drive(self, post: Post) -> Outcome:
        agg = Aggregator(self.profile.thresholds)

        async def ticker() -> None:
            while True:
                await asyncio.sleep(self.tick)
                if self.engine is not None:
                    post(agg.snapshot(self.engine.now()))

        task = asyncio.create_task(ticker())
        try:
            outcome = await lab.run_session(self.profile, self.root, [agg], on_engine=self._attach,
                                            workdir=self.workdir)
        finally:
            task.cancel()
        post(agg.snapshot())
        return outcome

    def stop(self) -> None:
        self._stop_asked = True
        if self.engine is not None:
            self.engine.stop()


class ReplayFeed:
    """Plays a stored session: the snapshot at the player's position, re-posted when the position moves."""

    is_replay = True

    def __init__(self, index: ReplayIndex | None, title: str, test_type: str, *, speed: float = 1.0,
                 tick: float = TICK, loader: Callable[[], tuple[Any, ReplayIndex, Any]] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.index = index
        self.title = title
        self.test_type = test_type
        self.tick = tick
        self.speed = speed
        self.loader = loader
        self.clock = clock
        self.session: Any = None  # the stored session row, once loaded
        self.player = self._player() if index is not None else None
        self._last = math.nan
        self._stopped = False
        self._wake: asyncio.Event | None = None

    def _player(self) -> Player:
        assert self.index is not None
        if self.clock is not None:
            return Player(self.index.duration, speed=self.speed, clock=self.clock)
        return Player(self.index.duration, speed=self.speed)

    @classmethod
    def from_store(cls, root: Path | None, ref: str, *, speed: float = 1.0) -> ReplayFeed:
        """A feed that opens the session in a thread when it starts: the first seconds of samples
        (lab.session.FIRST_CHUNK) before the first frame, the rest in the background (a seek past what is loaded
        shows what is, then updates). Each frame costs the same wherever it is (core.replay)."""
        return cls(None, ref, "", speed=speed, loader=lambda: lab.open_replay(root, ref))

    def now(self) -> Snapshot:
        assert self.index is not None and self.player is not None
        return self.index.snapshot_at(self.player.position)

    def seek(self, t: float) -> None:
        if self.player is not None:
            self.player.seek(t)
            self.poke()

    def poke(self) -> None:
        """Re-post now (after a seek, pause or speed change) instead of at the next tick."""
        self._last = math.nan
        if self._wake is not None:
            self._wake.set()

    async def drive(self, post: Post) -> Any:
        rest = None
        if self.index is None and self.loader is not None:
            self.session, self.index, rest = await asyncio.to_thread(self.loader)
            self.title = f"replay {self.session.id} ({self.session.profile})"
            self.test_type = self.session.test_type
            self.player = self._player()
        assert self.index is not None and self.player is not None
        self._wake = asyncio.Event()
        loading = asyncio.create_task(self._load(rest)) if rest is not None else None
        try:
            await self._loop(post)
        finally:
            if loading is not None:
                loading.cancel()
        return self.session

    async def _load(self, rest: Any) -> None:
        await asyncio.sleep(0.5)  # let the first frame paint before the reads compete for the GIL
        assert self.index is not None and self.player is not None
        while True:
            before = self.index.loaded_until
            if await asyncio.to_thread(next, rest, None) is None:
                break
            if self.player.position > before:  # only a position past what was loaded shows anything new
                self.poke()

    async def _loop(self, post: Post) -> None:
        assert self.index is not None and self.player is not None and self._wake is not None
        while not self._stopped:
            self._wake.clear()  # before reading the position: a seek from now on wakes the next wait
            pos = self.player.position
            if pos != self._last:
                self._last = pos
                post(self.index.snapshot_at(pos))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick)

    def stop(self) -> None:
        self._stopped = True
        self.poke()
