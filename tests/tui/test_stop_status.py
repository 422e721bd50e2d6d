"""A stopped run in the app: the status line says "stopping" until the run ends, then how far it got (never a
bare percentage that reads as a frozen progress bar), and the results screen says the figures are partial."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from perflab.core.model import Finished, Phase, Result, Sample, Status, labels
from perflab.lab import partial
from perflab.screens.results import ResultsScreen
from perflab.widgets.panels import StatusLine
from tests.tui.fakes import snapshot_of

RUNNING = [Phase(0.0, "load", "5 users", 0.1), Sample(1.0, "load.rps", 100.0, labels(endpoint="all")),
           Phase(5.8, "load", "5 users, 100 req/s", 0.58)]


def test_status_line_says_stopping_then_how_far_the_stopped_run_got() -> None:
    line = StatusLine()
    running = snapshot_of(RUNNING)
    assert "running  58%" in line.render_snapshot(running).plain
    line.stopping = True
    text = line.render_snapshot(running).plain
    assert "stopping" in text and "running" not in text
    ended = snapshot_of([*RUNNING, Finished(6.5, Status.INTERRUPTED, partial.PARTIAL_MESSAGE)])
    text = line.render_snapshot(ended).plain
    assert "INTERRUPTED at 58%" in text and "partial results" in text


def test_results_screen_says_a_stopped_run_is_partial() -> None:
    measured = partial.Measured()
    for i in range(20):
        measured.handle(Sample(i / 10, "leak.traced", 1e6 + 1e4 * i, labels(iteration=i)))
    result = partial.mark(Result(Status.INTERRUPTED, "stopped before the end"), measured, 2.0)

    class One(App[None]):
        def compose(self) -> ComposeResult:
            return iter(())

        def on_mount(self) -> None:
            self.push_screen(ResultsScreen("leak", result, "20260101-000000-abcdef", 2.0, []))

    async def scenario() -> None:
        app = One()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            screen = app.screen
            assert isinstance(screen, ResultsScreen)
            shown = "\n".join(line.text for line in screen.query_one("#summary-text").render_lines(
                screen.query_one("#summary-text").region.reset_offset))
            assert "INTERRUPTED" in shown and "partial results" in shown
            assert "Partial: stopped after 2 s" in shown
            assert "leak.traced" in shown and "measured until the stop" in shown

    asyncio.run(scenario())
