"""Rich rendering shared by the headless front end and the commands that print stored sessions."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from perflab.core import redact, units
from perflab.core.model import Result, Status, SummaryTable
from perflab.report import values

STATUS_STYLE = {
    Status.PASSED: "bold green",
    Status.FAILED: "bold red",
    Status.ERROR: "bold red",
    Status.CRASHED: "bold red",
    Status.INTERRUPTED: "bold yellow",
    Status.RUNNING: "cyan",
}


def rich_table(t: SummaryTable) -> Table:
    table = Table(title=t.title, title_justify="left", header_style="bold")
    for i, col in enumerate(t.columns):
        table.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in t.rows:
        table.add_row(*(Text(values.cell(c)) for c in row))
    return table


def make_console(stderr: bool = False) -> Console:
    """A console; when output is not a terminal (CI logs, files) it is wide enough for every table."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


def print_result(console: Console, profile_name: str, result: Result, session_id: str,
                 duration: float | None = None) -> None:
    result = redact.result(result)
    for t in result.tables:
        console.print(rich_table(t))
    for note in result.notes:  # Text, not markup: notes hold names like counting_sort[n=100]
        console.print(Text(f"  {note.text}", style=values.note_style(note)))
    style = STATUS_STYLE.get(result.status, "")
    took = f" in {units.duration(duration)}" if duration is not None else ""
    msg = f": {escape(result.message)}" if result.message else ""
    console.print(f"[{style}]{profile_name}: {result.status.value.upper()}[/]{took}{msg}")
    console.print(f"session {session_id}")


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def sessions_table(rows: Sequence[object]) -> Table:
    table = Table(header_style="bold")
    for col in ("session", "profile", "type", "status", "started", "duration", "target"):
        table.add_column(col, no_wrap=col in ("session", "started"))
    for r in rows:
        status = r.status  # type: ignore[attr-defined]
        table.add_row(r.id, r.profile, r.test_type,  # type: ignore[attr-defined]
                      f"[{STATUS_STYLE.get(status, '')}]{status.value}[/]", when(r.started),  # type: ignore[attr-defined]
                      units.duration(r.duration), r.target)  # type: ignore[attr-defined]
    return table
