"""Build a run without writing TOML: test type (every type; unbuilt ones disabled with a note), target kind and
value, one field for every target option and every test parameter of the chosen type, thresholds.

The fields are generated from the test type's schema (core.testtypes: ``target_options``, ``params``, each with
its help phrase as the placeholder), so the form offers exactly what a profile accepts. A field holds a TOML value
(``[100, 1000]``, ``3``, ``true``) or plain text (``perflab.demo.sorting:random_ints``, ``5s``); a list also
without brackets (sizes ``100, 1000``), command-line arguments as a shell splits them (``--port 8000``).
Endpoints and SQL targets get one row of fields per endpoint (method, path, weight, body, name) or statement
(SQL, name) instead of a line of TOML (screens/target_rows.py; ``ctrl+n`` adds a row). The form is turned
into profile text and validated by core.profiles as you type (the validator's own messages), the profile it would
save is previewed, callable references complete from ``module:function`` names found in the working folder, and
what was typed is remembered for the next time the form opens.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from perflab.core import params as p
from perflab.core import profiles, testtypes
from perflab.core.model import TARGET_KINDS, PerflabError, Profile
from perflab.core.profiles import ARGV_KINDS
from perflab.lab import discover
from perflab.lab import session as lab
from perflab.messages import Loaded
from perflab.screens.target_rows import (
    ADD_KEY,
    HEADERS,
    ROW_KINDS,
    coerce,
    field_value,
    row_widgets,
    rows_value,
)

KIND_HINT = {
    "callable": "module:function", "pytest": "tests/ folder or file", "script": "path/to/script.py",
    "command": "the command line", "locustfile": "path/to/locustfile.py", "url": "http://host:port/path",
    "endpoints": '[{ method = "GET", path = "/items" }]', "pid": "process id", "sql": '["SELECT ..."]',
}
SKIPPED = {"cwd", "env"}  # kept to profile files: a form field for a table of variables helps nobody


def form_to_data(name: str, kind: str, value: str, test_type: str, params: str, thresholds: str,
                 options: dict[str, str] | None = None, test_fields: dict[str, str] | None = None, *,
                 rows: Sequence[Mapping[str, str]] | None = None) -> dict[str, Any]:
    """The profile as a dict. ``params`` is more test keys as inline TOML (``n = [100, 1000], processes = 1``);
    ``options`` and ``test_fields`` are the per-key fields (text, see target_rows.coerce); empty fields are left
    out. ``rows``: the endpoint or statement rows of an endpoints or sql target (target_rows.rows_value); when
    none is filled in, ``value`` is read as a TOML list."""
    tt = testtypes.TEST_TYPES.get(test_type)
    table = {"endpoints": testtypes.ENDPOINT, "sql": testtypes.STATEMENT}.get(kind, {})
    built = rows_value(kind, rows, table) if rows and kind in ROW_KINDS else []
    target: dict[str, Any] = {kind: built or (field_value(value) if kind in ("pid", "endpoints", "sql") else value)}
    opts = tt.target_options if tt else {}
    target.update({k: coerce(v, opts.get(k), argv=k == "args" and kind in ARGV_KINDS)
                   for k, v in (options or {}).items() if v.strip()})
    test: dict[str, Any] = {"type": test_type}
    test.update({k: coerce(v, tt.params.get(k) if tt else None) for k, v in (test_fields or {}).items() if v.strip()})
    if params.strip():
        test.update(tomllib.loads("x = {" + params + "}")["x"])
    data: dict[str, Any] = {"name": name or "adhoc"}
    ths = [t.strip() for t in re.split(r"[;\n]", thresholds) if t.strip()]
    if ths:
        data["thresholds"] = ths
    data["target"] = target
    data["test"] = test
    return data


def _is_callable_ref(param: p.Param) -> bool:
    return param.convert in (p.callable_ref, p.callable_refs)


class AdhocScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("ctrl+s", "save", "Save profile"),
        Binding(ADD_KEY, "add_row", "Add row"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    AdhocScreen VerticalScroll { height: 1fr; }
    AdhocScreen Horizontal { height: auto; }
    AdhocScreen Label { width: 20; padding: 0 1; }  /* warmup_iterations */
    AdhocScreen Input { width: 1fr; }
    AdhocScreen Select { width: 20; }
    AdhocScreen OptionList { height: 6; }
    AdhocScreen .section { padding: 1 1 0 1; text-style: bold; }
    AdhocScreen #target-options, AdhocScreen #test-fields, AdhocScreen #rows { height: auto; }
    AdhocScreen .target-row { padding-left: 1; }
    AdhocScreen .target-row > * { margin-right: 1; }
    AdhocScreen .rows-hint { padding: 0 1; color: $text-muted; }
    AdhocScreen .target-row Select.method { width: 11; }
    AdhocScreen .target-row .row-weight { width: 11; }
    AdhocScreen .target-row .row-path, AdhocScreen .target-row .row-sql { width: 2fr; }
    AdhocScreen #preview { height: auto; border: round $primary; padding: 0 1; margin-top: 1; }
    AdhocScreen #problems { height: auto; max-height: 4; padding: 0 1; }
    """

    def __init__(self, profiles_dir: Path) -> None:
        super().__init__()
        self.profiles_dir = profiles_dir
        self.profile: Profile | None = None
        self.text = ""
        self.names: list[str] = []  # module:function names found in the working folder
        self.shown_type = ""  # the type whose fields are mounted
        self.rows_kind = ""  # the target kind whose rows are mounted

    @property
    def memory(self) -> dict[str, str]:
        """What was typed, kept by the app between two openings of the form (field id -> text)."""
        return self.app.form_memory  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            with Horizontal():
                yield Label("name")
                yield Input("adhoc", id="name", compact=True)
            yield Static("test type", classes="section")
            yield OptionList(*self._type_options(), id="type")
            yield Static("target", classes="section")
            with Horizontal():
                yield Select([(k, k) for k in TARGET_KINDS], value="callable", allow_blank=False, id="kind",
                             compact=True)
                yield Input(placeholder="e.g. module:function", id="value", compact=True)
            yield Vertical(id="rows")
            yield Vertical(id="target-options")
            yield Static("test parameters", classes="section")
            yield Vertical(id="test-fields")
            with Horizontal():
                yield Label("more (TOML)")
                yield Input(placeholder="optional: more test keys, e.g. x = 1, y = [2]", id="params", compact=True)
            with Horizontal():
                yield Label("thresholds")
                yield Input(placeholder="optional, e.g. median < 1ms; p95 < 200ms", id="thresholds", compact=True)
            yield Static(id="preview")
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
        self.query_one("#preview", Static).border_title = "profile preview"
        types = self.query_one(OptionList)
        mem = self.memory
        ids = [types.get_option_at_index(i).id for i in range(types.option_count)]
        types.highlighted = ids.index(mem["type"]) if mem.get("type") in ids else 0
        for field in ("name", "value", "params", "thresholds"):
            if field in mem:
                self.query_one(f"#{field}", Input).value = mem[field]
        self.query_one("#value", Input).focus()
        self._find_names()
        self.call_after_refresh(self._show_fields)

    @work(thread=True, exclusive=True, group="form-names", exit_on_error=False)
    def _find_names(self) -> None:
        self.post_message(Loaded(0, discover.callable_names(Path.cwd())))

    @on(Loaded)
    def _names_found(self, message: Loaded) -> None:
        self.names = message.data
        self._suggest()

    def _suggest(self) -> None:
        """Completion of module:function names on the fields that take a callable reference."""
        suggester = SuggestFromList(self.names, case_sensitive=True) if self.names else None
        tt = testtypes.TEST_TYPES.get(self.chosen_type())
        value = self.query_one("#value", Input)
        value.suggester = suggester if str(self.query_one("#kind", Select).value) == "callable" else None
        for key, param in (tt.target_options if tt else {}).items():
            if _is_callable_ref(param) and key not in SKIPPED:
                for field in self.query(f"#opt-{key}").results(Input):
                    field.suggester = suggester

    def chosen_type(self) -> str:
        types = self.query_one(OptionList)
        idx = types.highlighted or 0
        return types.get_option_at_index(idx).id or "benchmark"

    @on(OptionList.OptionHighlighted)
    async def _type_changed(self) -> None:
        await self._show_fields()

    async def _show_fields(self) -> None:
        """Mount one field per target option and test parameter of the chosen type (generated, never listed)."""
        name = self.chosen_type()
        tt = testtypes.TEST_TYPES.get(name)
        if tt is None or name == self.shown_type:
            self.validate()
            return
        self.shown_type = name
        self.memory["type"] = name
        kind = self.query_one("#kind", Select)
        current = self.memory.get("kind") or str(kind.value)
        kind.set_options([(k, k) for k in tt.target_kinds])
        kind.value = current if current in tt.target_kinds else tt.target_kinds[0]
        await self._mount_fields("#target-options", "opt", {k: v for k, v in tt.target_options.items()
                                                            if k not in SKIPPED})
        await self._mount_fields("#test-fields", "param", dict(tt.params))
        self._suggest()
        self.validate()

    async def _mount_fields(self, where: str, prefix: str, schema: dict[str, p.Param]) -> None:
        box = self.query_one(where, Vertical)
        await box.remove_children()
        rows = []
        for key, param in schema.items():
            hint = ("required: " if param.required else "optional: ") + param.help
            field = Input(self.memory.get(f"{prefix}-{key}", ""), placeholder=hint, id=f"{prefix}-{key}",
                          compact=True)
            rows.append(Horizontal(Label(key), field))
        await box.mount_all(rows)

    def _fields(self, prefix: str) -> dict[str, str]:
        return {(f.id or "")[len(prefix) + 1:]: f.value for f in self.query(Input)
                if (f.id or "").startswith(prefix + "-")}

    @on(Input.Changed)
    def _remember(self, event: Input.Changed) -> None:
        fid = event.input.id
        if fid:
            self.memory[f"{self.kind()}:{fid}" if fid.startswith("row-") else fid] = event.value
        self.validate()

    @on(Select.Changed, "#kind")
    async def _kind_changed(self) -> None:
        value = self.query_one("#value", Input)
        value.placeholder = "e.g. " + KIND_HINT.get(self.kind(), "")
        self.memory["kind"] = self.kind()
        await self._show_rows()
        self._suggest()
        self.validate()

    @on(Select.Changed, ".method")
    def _method_changed(self, event: Select.Changed) -> None:
        if event.select.id:
            self.memory[f"{self.kind()}:{event.select.id}"] = str(event.value)
        self.validate()

    def kind(self) -> str:
        return str(self.query_one("#kind", Select).value)

    async def _show_rows(self, more: int = 0) -> None:
        """The rows of an endpoints or sql target in place of its value field (as many as were filled in last
        time, at least one; ``more`` added)."""
        kind = self.kind()
        box = self.query_one("#rows", Vertical)
        self.query_one("#value", Input).display = kind not in ROW_KINDS
        if kind not in ROW_KINDS:
            self.rows_kind = ""
            await box.remove_children()
            return
        count = max(1, int(self.memory.get(f"rows-{kind}", "1") or 1)) + more
        self.memory[f"rows-{kind}"] = str(count)
        if self.rows_kind != kind:
            await box.remove_children()
            await box.mount(Static(f"{HEADERS[kind]} ({ADD_KEY} adds a row)", classes="rows-hint"))
        self.rows_kind = kind
        shown = len(box.query(".target-row"))
        # another kind's rows share the field ids: what they held is kept per kind in the memory
        await box.mount_all([row_widgets(kind, i, self._kind_memory(kind)) for i in range(shown, count)])

    def _kind_memory(self, kind: str) -> dict[str, str]:
        prefix = f"{kind}:"
        return {k[len(prefix):]: v for k, v in self.memory.items() if k.startswith(prefix)}

    def rows(self) -> list[dict[str, str]]:
        """The texts of the target rows shown, one dict per row (key -> text)."""
        out = []
        for row in self.query_one("#rows", Vertical).query(".target-row"):
            fields: dict[str, str] = {}
            for w in row.children:
                key = (w.id or "").split("-", 2)[-1]
                fields[key] = str(w.value) if isinstance(w, Select) else w.value  # type: ignore[attr-defined]
            out.append(fields)
        return out

    async def action_add_row(self) -> None:
        await self._show_rows(more=1)
        rows = self.query_one("#rows", Vertical).query(".target-row")
        if rows:
            rows[-1].children[0 if self.kind() == "sql" else 1].focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "add_row":
            return self.kind() in ROW_KINDS
        return True

    def validate(self) -> None:
        """Rebuild the profile from the form and show its problems (one per line) or that it is ready."""
        problems = self.query_one("#problems", Static)
        preview = self.query_one("#preview", Static)
        self.profile = None
        try:
            data = form_to_data(self.query_one("#name", Input).value, str(self.query_one("#kind", Select).value),
                                self.query_one("#value", Input).value.strip(), self.chosen_type(),
                                self.query_one("#params", Input).value,
                                self.query_one("#thresholds", Input).value,
                                self._fields("opt"), self._fields("param"), rows=self.rows())
        except tomllib.TOMLDecodeError as e:
            problems.update(f"[red]more: not valid TOML: {str(e).split(' (at')[0]}[/]")
            return
        self.text = lab.profile_to_toml(data)
        preview.update(Text(self.text.rstrip()))  # [target] is TOML, not markup
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
