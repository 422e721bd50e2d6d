"""Stored sessions: filter, details (results), replay, delete (confirmed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input
from textual.worker import Worker, WorkerState

from perflab.core import units
from perflab.core.model import PerflabError
from perflab.lab import session as lab
from perflab.messages import Loaded
from perflab.screens.confirm import Confirm
from perflab.widgets.fit import middle

STATUS_STYLE = {"passed": "green", "failed": "red", "error": "red", "crashed": "red", "interrupted": "yellow",
                "running": "cyan"}
FILTER_HELP = "filter: words, or profile:NAME type:T status:S date:YYYY-MM-DD"


def matches(row: Any, query: str) -> bool:
    """True when every word of ``query`` matches the session (``key:value`` words match one field)."""
    day = dt.datetime.fromtimestamp(row.started).strftime("%Y-%m-%d %H:%M")
    fields = {"profile": row.profile, "type": row.test_type, "status": row.status.value, "date": day,
              "id": row.id}
    for word in query.lower().split():
        key, sep, val = word.partition(":")
        if sep and key in fields:
            if val not in fields[key].lower():
                return False
        elif not any(word in str(v).lower() for v in fields.values()):
            return False
    return True


class SessionsScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "details", "Details", priority=True),
        Binding("p", "replay", "Replay"),
        Binding("d", "delete", "Delete"),
        Binding("c", "compare", "Compare"),
        Binding("slash", "filter", "Filter", show=False),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = "SessionsScreen DataTable { height: 1fr; }"

    def __init__(self, root: Path | None) -> None:
        super().__init__()
        self.root = root
        self.rows: list[Any] = []
        self.shown: list[Any] = []
        self.marked: str | None = None
        self.loaded = False  # the first read has arrived
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Input(placeholder=FILTER_HELP, id="filter")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="sessions")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "sessions"
        self.query_one(DataTable).focus()
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "compare":
            return True if len(self.shown) > 1 else None
        if action in ("details", "replay", "delete"):
            return True if self.shown else None
        return True

    def reload(self) -> None:
        """Read the sessions in a worker thread; the table fills when they arrive (a newer read wins)."""
        self._generation += 1
        self._load(self._generation)

    @work(thread=True, exclusive=True, group="sessions-load", exit_on_error=False)
    def _load(self, generation: int) -> None:
        self.post_message(Loaded(generation, lab.list_sessions(self.root)))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.generation == self._generation:
            self.rows = message.data
            self.loaded = True
            self.apply_filter(self.query_one(Input).value)

    @on(Worker.StateChanged)
    def _load_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "sessions-load" and event.state == WorkerState.ERROR:
            err = event.worker.error
            line = str(err) if isinstance(err, PerflabError) else f"{type(err).__name__}: {err}"
            self.notify(f"cannot read the sessions: {line.splitlines()[0]}", severity="error", timeout=8)

    def on_resize(self) -> None:
        if self.loaded:
            self.apply_filter(self.query_one(Input).value)

    def apply_filter(self, query: str) -> None:
        """Fill the table to the screen's width: status, start and duration never cut; below 120 columns the
        session is shown by its unique suffix (what ``perflab replay`` takes), the profile shortened in the middle."""
        self.shown = [r for r in self.rows if matches(r, query)]
        table = self.query_one(DataTable)
        row = table.cursor_row
        width = self.size.width - 2 - 12  # the scrollbar, each of the 6 columns' padding
        wide = self.size.width >= 120
        cells = [(r.id if wide else r.id.rsplit("-", 1)[-1], r.profile, r.test_type, r.status.value,
                  dt.datetime.fromtimestamp(r.started).strftime("%m-%d %H:%M"), units.duration(r.duration))
                 for r in self.shown]
        heads = ("session", "profile", "type", "status", "started", "took")
        widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
        widths[1] = max(7, min(widths[1], width - sum(widths) + widths[1]))
        table.clear(columns=True)
        for h, w in zip(heads, widths, strict=True):
            table.add_column(h, width=w)
        for r, c in zip(self.shown, cells, strict=True):
            table.add_row(c[0], middle(c[1], widths[1]), c[2], Text(c[3], style=STATUS_STYLE.get(c[3], "")),
                          c[4], Text(c[5], justify="right"), key=r.id)
        if self.shown and row is not None:
            table.move_cursor(row=min(row, len(self.shown) - 1))
        self.refresh_bindings()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    def selected(self) -> Any:
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row is None or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def action_details(self) -> None:
        if self.focused is self.query_one(Input):
            self.query_one(DataTable).focus()
            return
        row = self.selected()
        if row is not None:
            from perflab.screens.results import ResultsScreen

            self.app.push_screen(ResultsScreen.for_session(row, lab.session_artifacts(self.root, row.id)))

    def action_replay(self) -> None:
        row = self.selected()
        if row is not None:
            self.app.open_replay(row.id)  # type: ignore[attr-defined]

    def action_delete(self) -> None:
        row = self.selected()
        if row is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                lab.delete_session(self.root or lab.store_root(), row.id)
                self.notify(f"deleted session {row.id}")
                self.reload()

        self.app.push_screen(Confirm(f"Delete session {row.id} ({row.profile}) and its artifacts?"), done)

    def action_compare(self) -> None:
        row = self.selected()
        if row is None:
            return
        if self.marked is None or self.marked == row.id:
            self.marked = row.id
            self.notify(f"{row.id} marked; highlight another session and press c again")
            return
        self.app.open_comparison(self.marked, row.id)  # type: ignore[attr-defined]
        self.marked = None

    def action_back(self) -> None:
        if self.focused is self.query_one(Input):
            self.query_one(DataTable).focus()
            return
        self.app.pop_screen()
