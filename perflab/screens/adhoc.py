"""Build a run without writing TOML: target, test type (every type; unbuilt ones disabled with a note),
main parameters, thresholds. The form is turned into profile text and validated by core.profiles as you type;
it can be run at once or saved as a profile file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from perflab.core import profiles, testtypes
from perflab.core.model import TARGET_KINDS, PerflabError, Profile
from perflab.lab import session as lab

INT_KINDS = {"pid"}


def form_to_data(name: str, kind: str, value: str, test_type: str, params: str, thresholds: str) -> dict[str, Any]:
    """The profile as a dict; ``params`` is inline TOML (``n = [100, 1000], processes = 1``)."""
    target: dict[str, Any] = {kind: int(value) if kind in INT_KINDS and value.isdigit() else value}
    test: dict[str, Any] = {"type": test_type}
    if params.strip():
        test.update(tomllib.loads("x = {" + params + "}")["x"])
    data: dict[str, Any] = {"name": name or "adhoc"}
    ths = [t.strip() for t in re.split(r"[;\n]", thresholds) if t.strip()]
    if ths:
        data["thresholds"] = ths
    data["target"] = target
    data["test"] = test
    return data


class AdhocScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("ctrl+s", "save", "Save profile"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    AdhocScreen VerticalScroll { height: 1fr; }
    AdhocScreen Horizontal { height: auto; }
    AdhocScreen Label { width: 12; padding: 1 0 0 1; }
    AdhocScreen Input { width: 1fr; }
    AdhocScreen Select { width: 20; }
    AdhocScreen OptionList { height: 6; }
    AdhocScreen #problems { height: auto; max-height: 4; padding: 0 1; }
    """

    def __init__(self, profiles_dir: Path) -> None:
        super().__init__()
        self.profiles_dir = profiles_dir
        self.profile: Profile | None = None
        self.text = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            with Horizontal():
                yield Label("name")
                yield Input("adhoc", id="name")
            with Horizontal():
                yield Label("target")
                yield Select([(k, k) for k in TARGET_KINDS], value="callable", allow_blank=False, id="kind")
                yield Input(placeholder="module:function, path, URL, pid or SQL", id="value")
            yield OptionList(*self._type_options(), id="type")
            with Horizontal():
                yield Label("params")
                yield Input(placeholder="n = [100, 1000], processes = 1", id="params")
            with Horizontal():
                yield Label("thresholds")
                yield Input(placeholder="median < 1ms; p95 < 200ms", id="thresholds")
        yield Static(id="problems")
        yield Footer()

    @staticmethod
    def _type_options() -> list[Option]:
        out = []
        for t in testtypes.TEST_TYPES.values():
            text = f"{t.name:<12} {t.title}" if t.built else f"{t.name:<12} (not built) {t.note}"
            out.append(Option(text, id=t.name, disabled=not t.built))
        return out

    def on_mount(self) -> None:
        self.sub_title = "new run"
        types = self.query_one(OptionList)
        types.highlighted = 0
        self.query_one("#value", Input).focus()
        self.validate()

    def chosen_type(self) -> str:
        types = self.query_one(OptionList)
        idx = types.highlighted or 0
        return types.get_option_at_index(idx).id or "benchmark"

    @on(Input.Changed)
    @on(Select.Changed)
    @on(OptionList.OptionHighlighted)
    def validate(self) -> None:
        """Rebuild the profile from the form and show its problems (one per line) or that it is ready."""
        problems = self.query_one("#problems", Static)
        self.profile = None
        try:
            data = form_to_data(self.query_one("#name", Input).value, str(self.query_one(Select).value),
                                self.query_one("#value", Input).value.strip(), self.chosen_type(),
                                self.query_one("#params", Input).value,
                                self.query_one("#thresholds", Input).value)
        except tomllib.TOMLDecodeError as e:
            problems.update(f"[red]params: not valid TOML: {str(e).split(' (at')[0]}[/]")
            return
        self.text = lab.profile_to_toml(data)
        try:
            self.profile = profiles.parse(self.text, f"{data['name']}.toml", base=Path.cwd())
        except PerflabError as e:
            lines = [ln.split(": ", 1)[-1] for ln in str(e).splitlines()]
            problems.update("[red]" + "\n".join(lines[:4]).replace("[", "\\[") + "[/]")
            return
        problems.update("[green]ready: ctrl+r runs it, ctrl+s saves it as a profile[/]")

    def action_run(self) -> None:
        if self.profile is None:
            self.notify("fix the problems shown first", severity="error")
            return
        self.app.start_run(self.profile)  # type: ignore[attr-defined]

    def action_save(self) -> None:
        if self.profile is None:
            self.notify("fix the problems shown first", severity="error")
            return
        path = self.profiles_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', self.profile.name)}.toml"
        if path.exists():
            self.notify(f"{path} exists; change the name", severity="error")
            return
        self.profiles_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text, encoding="utf-8")
        self.notify(f"saved {path}")

    def action_back(self) -> None:
        self.app.pop_screen()
