"""Stored sessions: filter, details (results), replay, delete (confirmed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input

from perflab.core import units
from perflab.lab import session as lab
from perflab.screens.confirm import Confirm

STATUS_STYLE = {"passed": "green", "failed": "red", "error": "red", "crashed": "red", "interrupted": "yellow",
                "running": "cyan"}
FILTER_HELP = "filter: words match profile/type/status/date; or profile:NAME type:T status:S date:YYYY-MM-DD"


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
        Binding("slash", "filter", "Filter"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = "SessionsScreen DataTable { height: 1fr; }"

    def __init__(self, root: Path | None) -> None:
        super().__init__()
        self.root = root
        self.rows: list[Any] = []
        self.shown: list[Any] = []
        self.marked: str | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder=FILTER_HELP, id="filter")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="sessions")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "sessions"
        self.query_one(DataTable).add_columns("session", "profile", "type", "status", "started", "took")
        self.reload()
        self.query_one(DataTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "compare":
            return True if len(self.shown) > 1 else None
        if action in ("details", "replay", "delete"):
            return True if self.shown else None
        return True

    def reload(self) -> None:
        self.rows = lab.list_sessions(self.root)
        self.apply_filter(self.query_one(Input).value)

    def apply_filter(self, query: str) -> None:
        self.shown = [r for r in self.rows if matches(r, query)]
        table = self.query_one(DataTable)
        table.clear()
        for r in self.shown:
            st = r.status.value
            table.add_row(r.id, r.profile[:12], r.test_type, f"[{STATUS_STYLE.get(st, '')}]{st}[/]",
                          dt.datetime.fromtimestamp(r.started).strftime("%m-%d %H:%M"),
                          units.duration(r.duration), key=r.id)
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
        from perflab.screens.results import ResultsScreen

        self.app.push_screen(ResultsScreen.for_comparison(lab.compare_sessions(self.root, self.marked, row.id)))
        self.marked = None

    def action_back(self) -> None:
        if self.focused is self.query_one(Input):
            self.query_one(DataTable).focus()
            return
        self.app.pop_screen()
