"""The help screen (``?`` or F1): every key of the screen it was opened on, then the app's global keys.

The list is read from the live bindings (``Screen.active_bindings``) when the help opens, never written by hand,
so it cannot go stale: a key added to a screen's ``BINDINGS`` appears here; a key its screen hides right now
(``check_action`` returns False, e.g. replay keys during a live run) is left out; a key that exists but does nothing
yet (``check_action`` returns None) is listed dimmed; a key bound twice is listed as what it really does.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


@dataclass(frozen=True)
class KeyRow:
    keys: tuple[str, ...]  # as displayed, e.g. ("n", "esc")
    bound: tuple[str, ...]  # as bound, e.g. ("n", "escape")
    action: str
    description: str
    enabled: bool


@dataclass(frozen=True)
class KeySection:
    title: str
    rows: tuple[KeyRow, ...]


def _section_title(node: DOMNode, screen: Screen[object]) -> str:
    if node is screen:
        return f"this screen ({screen.sub_title})" if screen.sub_title else "this screen"
    if node is screen.app:
        return "everywhere"
    return f"in the focused {type(node).__name__}"


def key_sections(screen: Screen[object]) -> list[KeySection]:
    """The keys that work on ``screen`` now, grouped by where they are bound: the screen itself, the app
    (everywhere), then the focused widget and its containers. Keys bound to the same action are one row."""
    app = screen.app
    grouped: dict[int, tuple[DOMNode, dict[str, list[tuple[str, Binding, bool]]]]] = {}
    found: list[tuple[str, DOMNode, Binding, bool]] = [
        (key, a.node, a.binding, a.enabled) for key, a in screen.active_bindings.items()]
    if screen.is_modal:  # active_bindings stops at a modal, but the app's priority keys still work there
        taken = {key for key, *_ in found}
        for key, binding in app._bindings:  # the app's map (it holds the palette key Textual adds at start)
            if binding.priority and key not in taken and app.check_action(binding.action, ()) is not False:
                found.append((key, app, binding, True))
    for key, node, binding, enabled in found:
        if binding.system:  # Textual's own plumbing (e.g. ctrl+c explains how to quit)
            continue
        _, per_action = grouped.setdefault(id(node), (node, {}))
        per_action.setdefault(binding.action, []).append((key, binding, enabled))
    order = {id(screen): 0, id(app): 1}  # then the focused widget's own keys
    sections = []
    for node, per_action in sorted(grouped.values(), key=lambda g: order.get(id(g[0]), 2)):
        rows = []
        for action, same in per_action.items():
            first = same[0][1]
            keys = tuple(dict.fromkeys(app.get_key_display(b) for _, b, _ in same))
            rows.append(KeyRow(keys, tuple(k for k, _, _ in same), action,
                               first.description or action.replace("_", " "), any(e for _, _, e in same)))
        sections.append(KeySection(_section_title(node, screen), tuple(rows)))
    return sections


def render_sections(sections: list[KeySection]) -> Group:
    parts: list[Text | Table] = []
    for i, section in enumerate(sections):
        parts.append(Text(("\n" if i else "") + section.title, style="bold underline"))
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, min_width=10)
        table.add_column()
        for row in section.rows:
            style = "" if row.enabled else "dim"
            desc = row.description if row.enabled else f"{row.description} (not now)"
            table.add_row(Text(" / ".join(row.keys), style=f"bold {style}".strip()), Text(desc, style=style))
        parts.append(table)
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """A modal over the screen it describes: keys typed here never reach that screen."""

    BINDINGS = [Binding("escape,question_mark,f1", "close", "Close help")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; max-width: 100%; height: auto; max-height: 100%;
                                  border: round $primary; padding: 0 1; background: $surface; }
    """

    def __init__(self, sections: list[KeySection]) -> None:
        super().__init__()
        self.sections = sections

    @classmethod
    def for_screen(cls, screen: Screen[object]) -> HelpScreen:
        return cls(key_sections(screen))

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "keys"
            scroll.border_subtitle = "esc closes"
            yield Static(render_sections(self.sections), id="keys")

    def action_close(self) -> None:
        self.dismiss(None)
