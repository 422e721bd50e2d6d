"""The results screen: summary tables, notes (baseline comparison, thresholds), verdict, artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static

from perflab.core import units
from perflab.core.model import Artifact, Result, Status, SummaryTable
from perflab.lab.session import SessionComparison
from perflab.report import values
from perflab.report.console import STATUS_STYLE
from perflab.screens.viewer import open_path
from perflab.widgets.fit import fitted_tables, middle


class ResultsScreen(Screen[None]):
    BINDINGS = [
        Binding("o", "open", "Open artifact"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    ResultsScreen #summary { height: 1fr; }
    ResultsScreen OptionList { height: auto; max-height: 6; }
    """

    def __init__(self, title: str, result: Result | None, session_id: str, duration: float | None,
                 artifacts: list[tuple[str, str]], *, verdict: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.verdict = verdict  # shown instead of the result's status (a comparison's verdict)
        self.result = result
        self.session_id = session_id
        self.duration = duration
        self.artifacts = artifacts  # (kind, path)

    @classmethod
    def for_outcome(cls, outcome: Any, title: str, artifacts: Sequence[Artifact] = ()) -> ResultsScreen:
        return cls(title, outcome.result, outcome.session_id, outcome.duration, _pairs(artifacts))

    @classmethod
    def for_session(cls, row: Any, artifacts: Sequence[Artifact] = ()) -> ResultsScreen:
        return cls(row.profile, row.result, row.id, row.duration, _pairs(artifacts))

    @classmethod
    def for_comparison(cls, c: SessionComparison) -> ResultsScreen:
        return cls(f"{c.candidate} vs {c.baseline}", c.result, c.candidate, None, [], verdict=c.verdict.value)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="summary"):
            yield Static(self._summary(), id="summary-text")
        if self.artifacts:
            yield OptionList(*self._artifact_lines(72), id="artifacts")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"results: {self.title_text}"
        self.query_one("#summary").focus()

    def on_resize(self) -> None:
        self.query_one("#summary-text", Static).update(self._summary(self.size.width - 2))  # the scrollbar
        if self.artifacts:
            opts = self.query_one(OptionList)
            for i, line in enumerate(self._artifact_lines(self.size.width - 8)):  # border, padding, scrollbar
                opts.replace_option_prompt_at_index(i, line)

    def _artifact_lines(self, width: int) -> list[str]:
        """One line per artifact, the path shortened in the middle (its folder start and file name stay)."""
        return [f"{k}: {middle(p, max(10, width - len(k) - 2))}" for k, p in self.artifacts]

    def _summary(self, width: int = 78) -> Group:
        parts: list[Any] = []
        r = self.result
        if r is None:
            parts.append(Text("no result stored for this session", style="yellow"))
        else:
            verdict = Text()
            if self.verdict is not None:
                verdict.append(f"{self.title_text}: {self.verdict.upper()}", style=COMPARE_STYLE.get(self.verdict, ""))
            else:
                verdict.append(f"{self.title_text}: {r.status.value.upper()}", style=STATUS_STYLE.get(r.status, ""))
            if self.duration is not None:
                verdict.append(f" in {units.duration(self.duration)}")
            if r.message:
                verdict.append(f": {r.message}")
            parts.append(verdict)
            parts.append(Text(f"session {self.session_id}", style="dim"))
            for t in r.tables:
                parts.extend(_table(t, width))
            bottleneck = r.data.get("bottleneck") if isinstance(r.data, dict) else None
            for role, b in (bottleneck or {}).items():
                line = Text()
                line.append(f"bottleneck ({role}): ", style="bold")
                line.append(str(b.get("label", "?")), style="bold magenta")
                line.append(" — " + str(b.get("text", "")).partition(": ")[2], style="dim")
                parts.append(line)
            for note in r.notes:
                if bottleneck and note.kind == "bottleneck":
                    continue  # shown above with its evidence
                parts.append(Text(f"• {note.text}", style=values.note_style(note)))
            if r.status == Status.PASSED and not r.notes:
                parts.append(Text("no thresholds or baseline comparison for this profile", style="dim"))
        return Group(*parts)

    def action_open(self) -> None:
        if not self.artifacts:
            self.notify("this run wrote no artifacts", severity="warning")
            return
        opts = self.query_one(OptionList)
        idx = opts.highlighted or 0
        open_path(self.artifacts[idx][1], self.notify)

    def action_back(self) -> None:
        self.app.pop_screen()


VERDICT_STYLE = {"slower": "bold red", "faster": "bold green", "unstable": "yellow", "same": "dim",
                 "breached": "bold red", "ok": "green"}
COMPARE_STYLE = {"passed": "bold green", "failed": "bold red", "inconclusive": "bold yellow", "error": "bold red"}


def _table(t: SummaryTable, width: int) -> list[Table]:
    """A summary table that fits ``width``: values never cut, names shortened in the middle; verdict-like cells
    (slower, faster, unstable, ...) coloured."""
    coloured = any(c.lower() in ("verdict", "status", "target is") for c in t.columns)

    def cell(c: str) -> Text:
        style = next((v for k, v in VERDICT_STYLE.items() if c.lower().startswith(k)), "") if coloured else ""
        return Text(c, style=style)

    return fitted_tables(t.title, t.columns, [[cell(c) for c in values.row(row)] for row in t.rows], width)


def _pairs(artifacts: Sequence[Artifact]) -> list[tuple[str, str]]:
    return [(a.kind, a.path) for a in artifacts]
