"""The sessions screen's comparison says INCONCLUSIVE when no metric could be judged, never PASSED."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from perflab.app import PerflabApp
from perflab.screens.results import ResultsScreen
from tests.tui.test_help_palette import wait_for
from tests.unit.test_compare_sessions import _rounds, _store


def test_compare_of_unjudgeable_sessions_shows_inconclusive(lab_dir: Path):
    root = lab_dir / "store"
    _store(root, "20260101-000000-aaaaaa", _rounds(1e-3, 1, 1))  # one process each: every row unstable
    _store(root, "20260101-000001-bbbbbb", _rounds(1e-3, 1, 2))

    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), root)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("s")
            await wait_for(pilot, lambda: getattr(app.screen, "loaded", False))
            await pilot.press("c", "down", "c")
            await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen))  # compared in a worker
            shown = app.screen
            assert isinstance(shown, ResultsScreen) and shown.verdict == "inconclusive"
            console = Console(width=80, record=True)
            console.print(shown._summary())
            text = console.export_text()
            assert "INCONCLUSIVE" in text and "PASSED" not in text

    asyncio.run(scenario())
