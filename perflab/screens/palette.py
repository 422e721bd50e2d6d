"""The app's own commands in the command palette (ctrl+p): run a profile (fuzzy by name), open, replay or compare
stored sessions, new run, sessions, help, open the store folder.

Profiles and sessions are read in a thread when the palette opens (``Provider.startup``), never on the UI
thread. With an empty query only commands that open a screen are listed: Textual highlights the first listed
command, so Enter on an empty palette must never start a run or delete anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from perflab.core.model import PerflabError
from perflab.lab import session as lab

if TYPE_CHECKING:
    from perflab.app import PerflabApp

SESSIONS_LISTED = 50  # newest sessions offered to open or replay


@dataclass(frozen=True)
class Command:
    title: str
    help: str
    run: Callable[[], object]
    discover: bool = False  # listed with an empty query


def _app(provider: Provider) -> PerflabApp:
    return provider.app  # type: ignore[return-value]


def commands(app: PerflabApp, entries: list[lab.ProfileEntry], sessions: list[Any]) -> list[Command]:
    """Every command the palette offers, given the profiles on disk and the newest stored sessions."""
    out = [
        Command("Help: keys of this screen", "every key of the screen below and the global ones", app.action_help,
                True),
        Command("New run", "build a run without writing TOML", app.action_new_run, True),
        Command("Sessions", "stored sessions: details, replay, compare, delete", app.action_sessions, True),
        Command("Open store folder", f"{app.store_folder()} in the system file viewer", app.action_open_store,
                True),
    ]
    for e in entries:
        if e.profile is not None:
            out.append(Command(f"Run profile {e.name}", _first_line(f"{e.test_type}: {e.profile.description or e.target}"),
                               partial(app.start_run, e.profile)))
    by_profile: dict[str, list[Any]] = {}
    for row in sessions:
        by_profile.setdefault(row.profile, []).append(row)
        when = f"{row.status.value}, {row.test_type}"
        out.append(Command(f"Open session {row.id} ({row.profile})", f"results of {row.profile}: {when}",
                           partial(app.open_results, row.id)))
        out.append(Command(f"Replay session {row.id} ({row.profile})", f"replay {row.profile}: {when}",
                           partial(app.open_replay, row.id)))
    for name, rows in by_profile.items():
        with_result = [r for r in rows if r.result is not None]
        if len(with_result) >= 2:
            newer, older = with_result[0], with_result[1]
            out.append(Command(f"Compare the last two sessions of {name}", f"{newer.id} against {older.id}",
                               partial(app.open_comparison, older.id, newer.id)))
    return out


def _first_line(text: str, width: int = 72) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[:width - 1] + "…"


class PerflabCommands(Provider):
    """The app's commands; ``search`` matches them fuzzily (Textual's matcher) by title."""

    async def startup(self) -> None:
        app = _app(self)
        self.entries, self.sessions = await asyncio.to_thread(app.load_palette_data)

    def _commands(self) -> list[Command]:
        return commands(_app(self), self.entries, self.sessions)

    async def discover(self) -> Hits:
        for c in self._commands():
            if c.discover:
                yield DiscoveryHit(c.title, c.run, help=c.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c in self._commands():
            score = matcher.match(c.title)
            if score > 0:
                yield Hit(score, matcher.highlight(c.title), c.run, help=c.help)


def load_palette_data(profiles_dir: Path, root: Path | None) -> tuple[list[lab.ProfileEntry], list[Any]]:
    """Profiles on disk and the newest sessions (blocking: run it in a thread). A store that cannot be read
    offers no sessions; the sessions screen says why."""
    try:
        sessions = lab.list_sessions(root, limit=SESSIONS_LISTED)
    except PerflabError:
        sessions = []
    return lab.list_profiles(profiles_dir, root), sessions
