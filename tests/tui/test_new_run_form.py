"""The new-run form, keyboard only: a field per target option and test parameter of the chosen type (from the
schema), completion of module:function names of the working folder, the preview, memory between openings, and
the reported failure: a callable with an input generator could not be set, so counting_sort got no input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from perflab.app import PerflabApp
from perflab.core import testtypes
from perflab.core.model import Status
from perflab.screens.adhoc import SKIPPED, AdhocScreen
from perflab.screens.home import HomeScreen
from perflab.screens.run import RunScreen
from tests.tui.test_help_palette import wait_for


async def focus(pilot, app: PerflabApp, field_id: str) -> None:  # type: ignore[no-untyped-def]
    """Tab to a field (keyboard only), at most once round the form."""
    for _ in range(60):
        if app.focused is not None and app.focused.id == field_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"no field {field_id}")


async def type_into(pilot, app: PerflabApp, field_id: str, text: str) -> None:  # type: ignore[no-untyped-def]
    await focus(pilot, app, field_id)
    await pilot.press(*text)


def test_fields_follow_the_schema_complete_names_and_are_remembered(lab_dir: Path):
    (lab_dir / "mymod.py").write_text("def build_input(n):\n    return list(range(n))\n\n"
                                      "def work(xs):\n    return sorted(xs)\n")

    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), lab_dir / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded)
            await pilot.press("n")
            form = app.screen
            assert isinstance(form, AdhocScreen)
            await wait_for(pilot, lambda: form.shown_type == "benchmark" and form.names)
            tt = testtypes.TEST_TYPES["benchmark"]
            ids = {f.id for f in form.query("Input")}
            assert {f"opt-{k}" for k in tt.target_options if k not in SKIPPED} <= ids
            assert {f"param-{k}" for k in tt.params} <= ids
            await type_into(pilot, app, "value", "mymod:wo")
            await pilot.press("right")  # accept the completion
            assert form.query_one("#value").value == "mymod:work"
            await type_into(pilot, app, "opt-input", "mymod:bu")
            await pilot.press("right")
            assert form.query_one("#opt-input").value == "mymod:build_input"
            await type_into(pilot, app, "param-n", "[10, 20]")
            await pilot.pause(0.1)
            assert form.profile is not None, str(form.query_one("#problems").content)
            preview = str(form.query_one("#preview").content)
            assert 'input = "mymod:build_input"' in preview and "n = [10, 20]" in preview and "[target]" in preview
            await type_into(pilot, app, "param-processes", "zero")
            await pilot.pause(0.1)
            problems = str(form.query_one("#problems").content)
            assert form.profile is None and "test.processes" in problems  # the validator's own message
            await pilot.press("ctrl+u")
            await pilot.press("escape")
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("n")  # opened again: what was typed is still there
            again = app.screen
            assert isinstance(again, AdhocScreen) and again is not form
            await wait_for(pilot, lambda: again.shown_type == "benchmark")
            assert again.query_one("#value").value == "mymod:work"
            assert again.query_one("#opt-input").value == "mymod:build_input"
            assert again.query_one("#param-n").value == "[10, 20]"

    asyncio.run(scenario())


@pytest.mark.slow
def test_run_a_callable_with_an_input_generator(lab_dir: Path):
    """counting_sort needs an input: with the input field set, the run passes (before: TypeError, no field)."""

    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), lab_dir / "store", workdir=lab_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded)
            await pilot.press("n")
            form = app.screen
            await wait_for(pilot, lambda: form.shown_type == "benchmark")
            await type_into(pilot, app, "value", "perflab.demo.sorting:counting_sort")
            await type_into(pilot, app, "opt-input", "perflab.demo.sorting:random_ints")
            for key, text in (("n", "[100]"), ("processes", "1"), ("max_time", "0.05s"), ("warmup", "false")):
                await type_into(pilot, app, f"param-{key}", text)
            await pilot.pause(0.1)
            assert form.profile is not None, str(form.query_one("#problems").content)
            await pilot.press("ctrl+r")
            run = app.screen
            assert isinstance(run, RunScreen)
            await wait_for(pilot, lambda: run.outcome is not None or run.error)
            assert run.error == "" and run.outcome.result.status == Status.PASSED

    asyncio.run(scenario())


def test_form_fields_make_a_profile_the_validator_accepts(lab_dir: Path):
    """Tables and lists typed into fields (endpoints, headers) come out as TOML the profile parser reads back."""
    from perflab.core import profiles
    from perflab.lab import session as lab
    from perflab.screens.adhoc import form_to_data

    data = form_to_data("api", "endpoints", '[{ method = "POST", path = "/echo", json = { a = 1 } }]', "load", "",
                        "p95 < 200ms", {"host": "http://127.0.0.1:8000", "headers": '{ X-Trace = "1" }'},
                        {"users": "5", "duration": "10s"})
    prof = profiles.parse(lab.profile_to_toml(data), "api.toml", base=lab_dir)
    assert prof.target.value == [{"method": "POST", "path": "/echo", "json": {"a": 1}}]
    assert prof.target.options["headers"] == {"X-Trace": "1"} and prof.test.params["users"] == 5
