"""Home: the profiles in the profiles folder (type, target, last verdict); run one, build one, see sessions."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from perflab.lab import session as lab

VERDICT_STYLE = {"passed": "green", "failed": "red", "error": "red", "crashed": "red", "interrupted": "yellow"}


class HomeScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "run", "Run", priority=True),
        Binding("n", "new", "New run"),
        Binding("s", "sessions", "Sessions"),
        Binding("g", "reload", "Reload", show=False),
        Binding("q", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    HomeScreen #heading { height: auto; padding: 0 1; }
    HomeScreen DataTable { height: 1fr; }
    """

    def __init__(self, profiles_dir: Path, root: Path | None) -> None:
        super().__init__()
        self.profiles_dir = profiles_dir
        self.root = root
        self.entries: list[lab.ProfileEntry] = []

    def compose(self) -> ComposeResult:
        yield Static(id="heading")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="profiles")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "profiles"
        table = self.query_one(DataTable)
        table.add_columns("profile", "type", "target", "last")
        self.action_reload()
        table.focus()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.entries = lab.list_profiles(self.profiles_dir, self.root)
        table = self.query_one(DataTable)
        table.clear()
        for e in self.entries:
            target = e.error[:50] if e.error else e.target
            table.add_row(e.name[:16], e.test_type, target[:44],
                          f"[{VERDICT_STYLE.get(e.verdict, 'dim')}]{e.verdict}[/]", key=str(e.path))
        found = f"{len(self.entries)} profile(s) in {self.profiles_dir}"
        if not self.entries:
            found = f"no profiles in {self.profiles_dir}: press n to build a run"
        self.query_one("#heading", Static).update(f"[b]perflab[/b]  {found}.  Enter runs the highlighted one.")

    def selected(self) -> lab.ProfileEntry | None:
        table = self.query_one(DataTable)
        if not self.entries or table.cursor_row is None:
            return None
        return self.entries[table.cursor_row]

    def action_run(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        if entry.profile is None:
            self.notify(entry.error, severity="error", timeout=8)
            return
        self.app.start_run(entry.profile)  # type: ignore[attr-defined]

    def action_new(self) -> None:
        from perflab.screens.adhoc import AdhocScreen

        self.app.push_screen(AdhocScreen(self.profiles_dir))

    def action_sessions(self) -> None:
        from perflab.screens.sessions import SessionsScreen

        self.app.push_screen(SessionsScreen(self.root))
