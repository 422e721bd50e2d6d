"""Help (``?``/F1), the command palette's own commands, and modals that keep keys to themselves.

The help test derives what it expects from each screen's declared ``BINDINGS`` (its whole class hierarchy and the
app's), not from a hand-written list: a binding added to a screen that the help screen does not show fails it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rich.console import Console
from textual.binding import Binding
from textual.command import CommandPalette
from textual.dom import DOMNode

from perflab.app import PerflabApp
from perflab.core.model import Profile, Result, Status, Target, TestSpec
from perflab.screens.adhoc import AdhocScreen
from perflab.screens.confirm import Confirm
from perflab.screens.help import HelpScreen, render_sections
from perflab.screens.home import HomeScreen
from perflab.screens.results import ResultsScreen
from perflab.screens.run import RunScreen
from perflab.screens.sessions import SessionsScreen
from perflab.store.sessions import SessionStore
from tests.tui.fakes import FakeFeed, bench_events, snapshot_of

SIZE = (80, 24)
T0 = 1_767_225_600.0


async def wait_for(pilot, cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def declared(node: DOMNode) -> set[tuple[str, str]]:
    """(key, action) of every binding a node's classes declare that its check_action does not hide now."""
    out = set()
    for cls in type(node).__mro__:
        for b in cls.__dict__.get("BINDINGS", []):
            b = b if isinstance(b, Binding) else Binding(*b)
            if b.system or node.check_action(b.action, ()) is False:
                continue
            out.update((k.strip(), b.action) for k in b.key.split(","))
    return out


async def check_help(pilot, app: PerflabApp, key: str = "question_mark") -> None:  # type: ignore[no-untyped-def]
    below = app.screen
    typing = app.focused is not None and app.focused.check_consume_key("?", "?")
    widgets = [n for n in app.focused.ancestors_with_self if n is not below and n is not app] if app.focused else []
    shadowing = {k for w in widgets for k, _ in declared(w)}  # keys the focused widget binds first
    await pilot.press(key)
    assert isinstance(app.screen, HelpScreen), f"{key} did not open the help on {type(below).__name__}"
    rows = [r for s in app.screen.sections for r in s.rows]
    shown = {(k, r.action) for r in rows for k in r.bound}
    missing = (declared(below) | declared(app)) - shown
    shown_keys = {k for k, _ in shown}
    missing = {(k, a) for k, a in missing if not (k in shadowing and k in shown_keys)}
    if typing:  # a focused Input takes "?" as a character, so the help does not offer it there
        missing.discard(("question_mark", "help"))
    assert not missing, f"{type(below).__name__}: keys missing from the help: {sorted(missing)}"
    console = Console(width=76, record=True)
    console.print(render_sections(app.screen.sections))
    text = console.export_text()
    assert all(r.description in text for r in rows)  # what is listed is what is drawn
    await pilot.press("escape")
    assert app.screen is below


def _store(root: Path) -> None:
    with SessionStore(root) as st:
        for i, status in enumerate((Status.PASSED, Status.FAILED)):
            prof = Profile("mini", "", Target("callable", "m:f"), TestSpec("benchmark"))
            sid = st.create_session(prof, machine={}, git=None, session_id=f"20260101-00000{i}-abcde{i}",
                                    started=T0 + 60 * i)
            st.finish_session(sid, Result(status), 0, 1.0)


def test_help_lists_every_key_of_every_screen(lab_dir: Path):
    root = lab_dir / "store"
    _store(root)

    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), root)
        async with app.run_test(size=SIZE) as pilot:
            assert isinstance(app.screen, HomeScreen)
            await wait_for(pilot, lambda: app.screen.loaded)
            await check_help(pilot, app)
            await check_help(pilot, app, "f1")
            await pilot.press("s")
            assert isinstance(app.screen, SessionsScreen)
            await wait_for(pilot, lambda: app.screen.loaded)
            await check_help(pilot, app)
            await pilot.press("enter")
            assert isinstance(app.screen, ResultsScreen)
            await check_help(pilot, app)
            await pilot.press("escape", "d")
            assert isinstance(app.screen, Confirm)
            await check_help(pilot, app)
            await pilot.press("n", "escape", "n")
            assert isinstance(app.screen, AdhocScreen)
            await check_help(pilot, app, "f1")  # an Input has the focus: "?" is a character there
            await pilot.press("escape")
            app.start_feed(FakeFeed([snapshot_of(bench_events(5.0, finished=False), 5.0)], hold=True))
            await pilot.pause(0.1)
            assert isinstance(app.screen, RunScreen)
            await check_help(pilot, app)
            help_keys = {a for s in HelpScreen.for_screen(app.screen).sections for r in s.rows for a in r.bound}
            assert "x" in help_keys and "space" not in help_keys  # live: stop listed, replay keys left out

    asyncio.run(scenario())


def test_keys_never_fall_through_a_modal(lab_dir: Path):
    """Reported: ctrl+p then enter ran Textual's "Keys" command (a side panel, not a modal) and closed the palette,
    so the next keys moved the table and started a run. Now enter on an empty palette opens a modal, and no key
    typed into the palette or the help reaches the screen below."""
    root = lab_dir / "store"

    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), root)
        started: list[str] = []
        app.start_feed = lambda feed: started.append(feed.title)  # type: ignore[assignment,method-assign,return-value]
        async with app.run_test(size=SIZE) as pilot:
            home = app.screen
            await wait_for(pilot, lambda: home.loaded)  # a fall-through "enter" would start a run
            await pilot.press("ctrl+p")
            assert isinstance(app.screen, CommandPalette)
            await pilot.pause(0.3)  # the commands are listed
            await pilot.press("enter", "down", "enter", "n", "s", "g", "q")
            assert started == [] and home in app.screen_stack and app.is_running
            assert isinstance(app.screen, (HelpScreen, CommandPalette)) or app.screen.is_modal
            while app.screen is not home:
                await pilot.press("escape")
            await pilot.press("question_mark", "down", "enter", "n", "s", "g", "q", "x", "space")
            assert isinstance(app.screen, HelpScreen) and started == [] and len(app.screen_stack) == 3
            await pilot.press("escape", "ctrl+p", *"zzzz")
            await pilot.pause(0.4)  # the search for "zzzz" is done (no match); before that "z" matched "Maximize"
            await pilot.press("enter", "down", "enter")
            assert isinstance(app.screen, CommandPalette) and started == [], app.screen_stack
            await pilot.press("escape")
            assert app.screen is home

    asyncio.run(scenario())


def test_palette_runs_a_profile_by_fuzzy_name_and_opens_sessions(lab_dir: Path):
    root = lab_dir / "store"
    _store(root)

    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), root)
        started: list[str] = []
        app.start_feed = lambda feed: started.append(feed.title)  # type: ignore[assignment,method-assign,return-value]
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            home = app.screen

            async def palette(*keys: str) -> None:
                await pilot.press("ctrl+p", *keys)
                await pilot.pause(0.4)  # the palette gathers hits for 0.25 s
                await pilot.press("enter")
                await pilot.pause(0.1)

            await palette(*"run slw")  # fuzzy: "Run profile slow"
            assert started == ["slow"]
            await palette(*"new run")
            assert isinstance(app.screen, AdhocScreen)
            await pilot.press("escape")
            await palette(*"sessions")
            assert isinstance(app.screen, SessionsScreen)
            await pilot.press("escape")
            await palette(*"open session 000001")
            assert isinstance(app.screen, ResultsScreen) and app.screen.session_id == "20260101-000001-abcde1"
            await pilot.press("escape")
            await palette(*"compare mini")
            compared = app.screen
            assert isinstance(compared, ResultsScreen) and compared.verdict == "error"  # no raw samples stored
            await pilot.press("escape")
            await palette(*"replay 000000")
            assert started == ["slow", "20260101-000000-abcde0"]
            await palette(*"help")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await palette(*"open store")
            assert app.screen is home  # no display here: it says where the folder is
            assert any(str(root) in n.message for n in app._notifications)

    asyncio.run(scenario())


def test_home_footer_shows_the_important_keys(lab_dir: Path):
    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), lab_dir / "store")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            shown = {b.binding.description for b in app.screen.active_bindings.values() if b.binding.show}
            assert {"Run", "New run", "Sessions", "Help"} <= shown

    asyncio.run(scenario())

