"""The run screen: live panels for a running profile, or the same panels for a replayed session."""

from __future__ import annotations

import time

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer

from perflab.core.aggregate import RunState, Snapshot
from perflab.core.replay import PlayState, speed_name
from perflab.lab.feeds import Feed
from perflab.messages import RunEnded, SnapshotReady
from perflab.widgets.chart import REPLAY_INTERVAL, SEEK_JUMP, MainChart
from perflab.widgets.fit import middle
from perflab.widgets.panels import LogPanel, ProcessPanel, StatusLine, ThresholdsPanel

LIVE_ONLY = {"stop", "baseline"}
REPLAY_ONLY = {"pause", "back10", "fwd10", "start", "end", "speed"}
FRAME = 0.2  # seconds: the widgets get at most one snapshot per frame, whatever rate snapshots arrive at


class RunScreen(Screen[None]):
    BINDINGS = [
        Binding("x", "stop", "Stop"),
        Binding("b", "baseline", "Baseline"),
        Binding("space", "pause", "Pause"),
        Binding("left", "back10", "-10s"),
        Binding("right", "fwd10", "+10s"),
        Binding("home", "start", "Start", show=False),
        Binding("end", "end", "End", show=False),
        Binding("f", "speed", "Speed"),
        Binding("r", "results", "Results"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, feed: Feed) -> None:
        super().__init__()
        self.feed = feed
        self.snap: Snapshot | None = None
        self.outcome: object = None
        self.error = ""
        self._mounted = False
        self._applied_at = -FRAME  # monotonic time (s) the widgets last got a snapshot
        self._applied_t: float | None = None  # run time (s) of that snapshot
        self._frame: Timer | None = None  # the pending frame, which applies the newest snapshot

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield MainChart(self.feed.test_type, id="chart")
        with Horizontal(id="panels"):
            yield ProcessPanel(id="process")
            yield ThresholdsPanel(id="thresholds")
        yield LogPanel(id="log")
        from textual.widgets import Footer

        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.feed.title
        self.query_one(ProcessPanel).border_title = "process"
        self.query_one(ThresholdsPanel).border_title = "thresholds"
        self.query_one(LogPanel).border_title = "log"
        if self.feed.is_replay:  # a replay's picture moves slowly; seeks are drawn at once whatever the interval
            self.query_one(MainChart).min_interval = REPLAY_INTERVAL
        self._mounted = True
        if self.snap is not None:
            self._apply(self.snap)
        self._extra()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LIVE_ONLY and self.feed.is_replay:
            return False
        if action in REPLAY_ONLY and not self.feed.is_replay:
            return False
        if action == "results":
            stored = getattr(getattr(self.feed, "session", None), "result", None) is not None
            return True if stored or self._finished() else None  # shown but disabled until there is a result
        if action == "stop":
            return None if self._finished() else True
        return True

    def _finished(self) -> bool:
        return self.outcome is not None or self.error != "" or (
            self.snap is not None and self.snap.state == RunState.FINISHED)

    @on(SnapshotReady)
    def show(self, message: SnapshotReady) -> None:
        was_finished = self._finished()
        self.snap = message.snapshot
        if self._mounted:  # a snapshot can arrive before the panels exist; on_mount shows it then
            self._next_frame()
        if self._finished() != was_finished:
            self.refresh_bindings()

    def _next_frame(self) -> None:
        """Show the newest snapshot now if a frame is due, else once the frame is over: snapshots arriving in
        between replace each other, so the widgets' work per second is bounded by FRAME, not by the rate of
        snapshots or samples. The final snapshot and a seek (a jump in time) are shown at once."""
        snap = self.snap
        if snap is None:
            return
        wait = FRAME - (time.monotonic() - self._applied_at)
        jump = self._applied_t is not None and abs(snap.t - self._applied_t) > SEEK_JUMP
        if wait > 0 and not jump and snap.state != RunState.FINISHED:
            if self._frame is None:
                self._frame = self.set_timer(wait, self._frame_due)
            return
        self._apply(snap)

    def _frame_due(self) -> None:
        self._frame = None
        self._next_frame()

    def _apply(self, snap: Snapshot) -> None:
        self._applied_at, self._applied_t = time.monotonic(), snap.t
        chart = self.query_one(MainChart)
        chart.test_type = self.feed.test_type
        with self.app.batch_update():
            chart.snapshot = snap
            self.query_one(ProcessPanel).snapshot = snap
            self.query_one(ThresholdsPanel).snapshot = snap
            self.query_one(LogPanel).snapshot = snap
            self.query_one(StatusLine).snapshot = snap
            self._extra()

    def _extra(self) -> None:
        player = getattr(self.feed, "player", None)
        status = self.query_one(StatusLine)
        if self.feed.is_replay and player is not None:
            state = "paused" if player.state == PlayState.PAUSED else player.state.value
            index = getattr(self.feed, "index", None)
            loading = f" loading {index.loaded * 100:.0f}%" if index is not None and index.loaded < 1 else ""
            status.extra = f"{middle(self.feed.title, 28)} {state} {speed_name(player.speed)} " \
                           f"{player.position:.0f}/{player.duration:.0f}s{loading}"
        else:
            status.extra = middle(self.feed.title, 28)

    @on(RunEnded)
    def ended(self, message: RunEnded) -> None:
        self.outcome = message.outcome
        self.error = message.error
        if message.error:
            self.notify(message.error, severity="error", timeout=8)
        self.refresh_bindings()

    # -- live ---------------------------------------------------------------------------
    def action_stop(self) -> None:
        self.feed.stop()
        self.query_one(StatusLine).stopping = True
        self.notify("stopping the run…")

    def action_baseline(self) -> None:
        from perflab.core.model import PerflabError
        from perflab.lab import session as lab

        profile = getattr(self.feed, "profile", None)
        if self.outcome is None or profile is None:
            self.notify("the run has not finished yet", severity="warning")
            return
        try:
            self.notify(lab.save_baseline(profile, self.outcome), timeout=8)  # type: ignore[arg-type]
        except PerflabError as e:
            self.notify(str(e), severity="error", timeout=8)

    def action_results(self) -> None:
        from perflab.screens.results import ResultsScreen

        arts = self.snap.artifacts if self.snap is not None else ()
        if self.feed.is_replay:
            session = getattr(self.feed, "session", None)
            if session is not None and session.result is not None:
                self.app.push_screen(ResultsScreen.for_session(session, arts))
            return
        if self.outcome is not None:
            self.app.push_screen(ResultsScreen.for_outcome(self.outcome, self.feed.title, arts))

    def action_back(self) -> None:
        if not self._finished() and not self.feed.is_replay:
            self.notify("the run is still going: press x to stop it first", severity="warning")
            return
        self.feed.stop()
        self.app.pop_screen()

    # -- replay -------------------------------------------------------------------------
    def _seek(self, t: float) -> None:
        seek = getattr(self.feed, "seek", None)
        if seek is not None:
            seek(t)

    def _player(self):  # type: ignore[no-untyped-def]
        return getattr(self.feed, "player", None)

    def action_pause(self) -> None:
        p = self._player()
        if p is not None:
            p.toggle()
            self._seek(p.position)
            self._extra()

    def action_back10(self) -> None:
        p = self._player()
        if p is not None:
            self._seek(p.position - 10.0)

    def action_fwd10(self) -> None:
        p = self._player()
        if p is not None:
            self._seek(p.position + 10.0)

    def action_start(self) -> None:
        self._seek(0.0)

    def action_end(self) -> None:
        p = self._player()
        if p is not None:
            self._seek(p.duration)

    def action_speed(self) -> None:
        p = self._player()
        if p is not None:
            p.next_speed()
            self._seek(p.position)
            self._extra()
