"""Home: the profiles in the profiles folder (name, type, target as the profile writes it, last verdict) and the
highlighted one's description; run one, build one, see sessions.

Profiles and the last verdicts are read in a worker thread (they parse files and query SQLite); the screen shows
"loading" until the first read arrives, and a newer read replaces an older one however they finish.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from perflab.core.model import Target
from perflab.lab import session as lab
from perflab.messages import Loaded
from perflab.widgets.fit import middle, toml_value

VERDICT_STYLE = {"passed": "green", "failed": "red", "error": "red", "crashed": "red", "interrupted": "yellow"}
TYPE_WIDTH = 11  # "concurrency"
VERDICT_WIDTH = 11  # "interrupted": a verdict is never cut
NAME_WIDTH = (10, 24)  # the profile column: at least, at most


def target_lines(target: Target) -> list[str]:
    """The target as a profile's [target] table writes it: the main key first, then the options that are set."""
    lines = [f"{target.kind} = {toml_value(target.value)}"]
    opts = dict(target.options)
    if not opts.get("auth_env"):  # header and scheme only mean something with a token variable
        opts.pop("auth_header", None)
        opts.pop("auth_scheme", None)
    lines += [f"{k} = {toml_value(v)}" for k, v in opts.items() if v not in (None, "", [], {}, ())]
    return lines


def target_cell(target: Target, width: int) -> str:
    """The main target line in ``width`` cells, the key kept: a name loses its middle (module and function both
    stay), a list or table its end."""
    key = f"{target.kind} = "
    value = toml_value(target.value)
    room = max(4, width - len(key))
    if isinstance(target.value, str | int):
        return key + middle(value, room)
    return key + (value if len(value) <= room else value[:room - 1] + "…")


def wrapped(text: str, width: int, lines: int) -> str:
    """``text`` wrapped to ``width``, at most ``lines`` lines (the last ends with an ellipsis when cut)."""
    out = textwrap.wrap(" ".join(text.split()), width) or [""]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][:width - 1].rstrip() + "…"
    return "\n".join(out)


class HomeScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "run", "Run", priority=True),
        Binding("n", "new", "New run"),
        Binding("s", "sessions", "Sessions"),
        Binding("g", "reload", "Reload", show=False),
        Binding("q", "app.quit", "Quit"),
    ]
    DEFAULT_CSS = """
    HomeScreen #heading { height: 1; padding: 0 1; }
    HomeScreen DataTable { height: 1fr; }
    HomeScreen #about { height: auto; max-height: 50%; border-top: solid $primary; padding: 0 1; }
    """

    def __init__(self, profiles_dir: Path, root: Path | None) -> None:
        super().__init__()
        self.profiles_dir = profiles_dir
        self.root = root
        self.entries: list[lab.ProfileEntry] = []
        self.loaded = False  # the first read has arrived
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Static(Text(f"perflab  loading profiles in {self.profiles_dir}…", no_wrap=True), id="heading")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="profiles")
        yield Static(id="about")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "profiles"
        self.query_one(DataTable).focus()
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self._generation += 1
        self._load(self._generation)

    @work(thread=True, exclusive=True, group="home-load", exit_on_error=False)
    def _load(self, generation: int) -> None:
        self.post_message(Loaded(generation, lab.list_profiles(self.profiles_dir, self.root)))

    @on(Worker.StateChanged)
    def _load_failed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "home-load" and event.state == WorkerState.ERROR:
            err = event.worker.error
            self.query_one("#heading", Static).update(Text(f"perflab  cannot read {self.profiles_dir}: {err}",
                                                           style="red", no_wrap=True))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        if message.generation != self._generation:
            return  # an older read finishing after a newer one
        if self.loaded and message.data == self.entries:
            return  # nothing changed (the usual case when the screen comes back): no table rebuild
        self.entries = message.data
        self.loaded = True
        self._fill()

    def on_resize(self) -> None:
        if self.loaded:
            self._fill()

    def _fill(self) -> None:
        """The table sized to the screen: type and verdict never cut, the name and target shortened in the middle."""
        table = self.query_one(DataTable)
        row = table.cursor_row
        width = self.size.width - 2 - 8  # the scrollbar, and each of the 4 columns' padding
        names = [e.name for e in self.entries] or ["profile"]
        name_w = max(NAME_WIDTH[0], min(NAME_WIDTH[1], max(len(n) for n in names), width // 4))
        target_w = max(10, width - name_w - TYPE_WIDTH - VERDICT_WIDTH)
        table.clear(columns=True)
        table.add_column("profile", width=name_w)
        table.add_column("type", width=TYPE_WIDTH)
        table.add_column("target", width=target_w)
        table.add_column("last", width=VERDICT_WIDTH)
        for e in self.entries:
            if e.profile is None:
                target = Text(middle(e.error, target_w), style="red")
            else:
                target = Text(target_cell(e.profile.target, target_w))
            table.add_row(middle(e.name, name_w), e.test_type, target,
                          Text(e.verdict, style=VERDICT_STYLE.get(e.verdict, "dim")), key=str(e.path))
        if self.entries:
            table.move_cursor(row=min(row, len(self.entries) - 1))
        found = f"{len(self.entries)} profile(s) in {self.profiles_dir}; enter runs the highlighted one"
        if not self.entries:
            found = f"no profiles in {self.profiles_dir}: press n to build a run"
        heading = Text("perflab  ", style="bold", no_wrap=True)
        heading.append(middle(found, max(10, self.size.width - 11)), style="")
        self.query_one("#heading", Static).update(heading)
        self._about()

    @on(DataTable.RowHighlighted)
    def _about(self) -> None:
        """The highlighted profile: its description, every line of its target, its thresholds."""
        entry = self.selected()
        about = self.query_one("#about", Static)
        if entry is None or entry.profile is None:
            about.update(Text(entry.error if entry else "", style="red"))
            return
        p = entry.profile
        room = max(10, self.size.width - 2)
        out = Text()
        out.append(wrapped(p.description or "(no description)", room, 3 if self.size.height < 30 else 8))
        for line in target_lines(p.target):
            out.append("\n" + middle(line, room), style="cyan")
        if p.thresholds:
            out.append("\n" + middle("thresholds: " + "; ".join(p.thresholds), room), style="dim")
        about.update(out)

    def selected(self) -> lab.ProfileEntry | None:
        table = self.query_one(DataTable)
        if not self.entries or table.cursor_row is None or table.cursor_row >= len(self.entries):
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
        self.app.action_new_run()  # type: ignore[attr-defined]

    def action_sessions(self) -> None:
        self.app.action_sessions()  # type: ignore[attr-defined]


