"""PerflabApp: registers the screens and owns the one worker that drains a feed (a live run or a replay).

Data sources are injected (``start_feed``) so tests swap in a fake feed; everything shown comes from core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from perflab.core.model import PerflabError, Profile
from perflab.lab import session as lab
from perflab.lab.feeds import Feed, LiveFeed, ReplayFeed
from perflab.messages import ComparisonReady, RunEnded, SnapshotReady
from perflab.screens.help import HelpScreen
from perflab.screens.home import HomeScreen
from perflab.screens.palette import PerflabCommands, load_palette_data
from perflab.screens.run import RunScreen
from perflab.screens.viewer import open_path


class PerflabApp(App[int]):
    CSS_PATH = "perflab.tcss"
    TITLE = "perflab"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        # priority: the help opens over modals too; a focused Input still gets "?" as a character
        Binding("question_mark", "help", "Help", key_display="?", priority=True),
        Binding("f1", "help", "Help", priority=True),  # the footer shows it where an Input takes "?"
    ]
    COMMANDS = App.COMMANDS | {PerflabCommands}

    def __init__(self, profiles_dir: Path | str = "profiles", root: Path | None = None, *,
                 replay: str | None = None, workdir: Path | None = None) -> None:
        super().__init__()
        self.profiles_dir = Path(profiles_dir)
        self.root = root
        self.workdir = workdir
        self.initial_replay = replay
        self.run_screen: RunScreen | None = None
        self.form_memory: dict[str, str] = {}  # what was typed into the new-run form, for the next time

    def on_mount(self) -> None:
        self.push_screen(HomeScreen(self.profiles_dir, self.root))
        if self.initial_replay:
            self.open_replay(self.initial_replay)

    # -- starting things ------------------------------------------------------------------
    def live_run_going(self) -> bool:
        return self.run_screen is not None and not self.run_screen.feed.is_replay and any(
            w.group == "run" and not w.is_finished for w in self.workers)

    def start_run(self, profile: Profile) -> None:
        if self.live_run_going():  # a second run would stop the first one without asking
            self.notify("a run is going: stop it (x) before starting another", severity="warning")
            return
        self.start_feed(LiveFeed(profile, self.root, workdir=self.workdir))

    def open_replay(self, ref: str) -> None:
        self.start_feed(ReplayFeed.from_store(self.root, ref))

    def start_feed(self, feed: Feed) -> RunScreen:
        """Show the run screen for ``feed`` and start draining it (a new feed replaces the old one)."""
        if self.run_screen is not None:
            self.run_screen.feed.stop()
        screen = self.run_screen = RunScreen(feed)
        self.push_screen(screen)
        self.drive(feed, screen)
        return screen

    # -- help and the palette's commands -----------------------------------------------------
    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):  # the same key closes it
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen.for_screen(self.screen))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's commands (theme, screenshot, quit), minus its key panel (the help screen replaces it), found
        by search only: an empty palette lists only the app's commands, whose first (help) is what Enter runs."""
        for c in super().get_system_commands(screen):
            if c.title != "Keys":
                yield c._replace(discover=False)

    def load_palette_data(self) -> tuple[list[lab.ProfileEntry], list[lab.SessionRow]]:
        return load_palette_data(self.profiles_dir, self.root)

    def store_folder(self) -> Path:
        return self.root or lab.store_root()

    def action_new_run(self) -> None:
        from perflab.screens.adhoc import AdhocScreen

        self.push_screen(AdhocScreen(self.profiles_dir))

    def action_sessions(self) -> None:
        from perflab.screens.sessions import SessionsScreen

        self.push_screen(SessionsScreen(self.root))

    def action_open_store(self) -> None:
        open_path(self.store_folder(), self.notify)

    def open_results(self, sid: str) -> None:
        from perflab.screens.results import ResultsScreen

        try:  # one row by its id: small enough for the UI thread
            row = lab.get_session(self.root, sid)
            artifacts = lab.session_artifacts(self.root, row.id)
        except PerflabError as e:  # e.g. deleted since the palette listed it
            self.notify(str(e).splitlines()[0], severity="error", timeout=8)
            return
        self.push_screen(ResultsScreen.for_session(row, artifacts))

    def open_comparison(self, baseline: str, candidate: str) -> None:
        """Compare in a worker thread (it reads both sessions' raw samples and resamples them), then show it."""
        self._compare(baseline, candidate)

    @work(thread=True, group="compare", exit_on_error=False)
    def _compare(self, baseline: str, candidate: str) -> None:
        self.post_message(ComparisonReady(lab.compare_sessions(self.root, baseline, candidate)))

    @on(ComparisonReady)
    def _show_comparison(self, message: ComparisonReady) -> None:
        from perflab.screens.results import ResultsScreen

        self.push_screen(ResultsScreen.for_comparison(message.comparison))

    async def action_quit(self) -> None:
        """Quit; a live run is stopped first and its children reaped (the session ends "interrupted")."""
        await self.stop_run()
        self.exit()

    async def stop_run(self, timeout: float = 30.0) -> None:
        running = [w for w in self.workers if w.group == "run" and not w.is_finished]
        if self.run_screen is None or not running:
            return
        self.run_screen.feed.stop()
        if not self.run_screen.feed.is_replay:
            with contextlib.suppress(Exception):  # its outcome or error is handled by _run_state
                await asyncio.wait_for(running[0].wait(), timeout)

    # -- the one worker -----------------------------------------------------------------
    @work(exclusive=True, group="run", exit_on_error=False)
    async def drive(self, feed: Feed, screen: RunScreen) -> object:
        return await feed.drive(lambda snap: screen.post_message(SnapshotReady(snap)))

    @on(Worker.StateChanged)
    def _run_state(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "compare" and event.state == WorkerState.ERROR:
            err = event.worker.error
            line = str(err) if isinstance(err, PerflabError) else f"internal error: {type(err).__name__}: {err}"
            self.notify(f"cannot compare: {line.splitlines()[0]}", severity="error", timeout=8)
            return
        if event.worker.group != "run" or self.run_screen is None:
            return
        screen = self.run_screen
        if event.state == WorkerState.SUCCESS:
            screen.post_message(RunEnded(outcome=event.worker.result))
        elif event.state == WorkerState.ERROR:
            err = event.worker.error
            line = str(err) if isinstance(err, PerflabError) else f"internal error: {type(err).__name__}: {err}"
            screen.post_message(RunEnded(error=line.splitlines()[0] if line else "error"))


def run_app(ns: argparse.Namespace) -> int:
    root = lab.store_root(getattr(ns, "store", None))
    profiles_dir = Path(getattr(ns, "profiles_dir", None) or "profiles")
    if getattr(ns, "profiles", None):
        raise PerflabError("profiles given without --headless: pass them with --headless, or use "
                           "--profiles DIR to list a folder in the app")
    app = PerflabApp(profiles_dir, root, replay=getattr(ns, "session", None))
    app.run()
    return app.return_code or 0
