"""The new-run form's structured target fields: endpoint and SQL statement rows instead of a line of TOML, lists
without brackets, command-line arguments as a shell splits them; checked by the profile validator itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

from perflab.app import PerflabApp
from perflab.core import params as p
from perflab.core import profiles, testtypes
from perflab.lab import session as lab
from perflab.screens.adhoc import AdhocScreen, form_to_data
from perflab.screens.target_rows import coerce, rows_value
from tests.tui.test_help_palette import wait_for
from tests.tui.test_new_run_form import focus


def test_lists_without_brackets_and_shell_words_become_what_the_key_takes() -> None:
    n = testtypes.TEST_TYPES["benchmark"].params["n"]
    assert coerce("100, 1000", n) == [100, 1000]
    assert coerce("100 1000 10_000", n) == [100, 1000, 10000]
    assert coerce("100", n) == [100]
    assert coerce("[5]", n) == [5]
    assert coerce("ten", n) == "ten"  # left as typed: the validator says what is wrong
    args = testtypes.TEST_TYPES["cpu"].target_options["args"]
    assert coerce("--rows 10 --name 'a b'", args, argv=True) == ["--rows", "10", "--name", "a b"]
    assert coerce('["--x"]', args, argv=True) == ["--x"]
    assert coerce("5s", testtypes.TEST_TYPES["load"].params["duration"]) == "5s"
    assert coerce("ab", p.Param(p.string)) == "ab"


def test_rows_make_endpoint_and_statement_tables_the_validator_reads_back(tmp_path: Path) -> None:
    rows = [{"method": "POST", "path": "/echo", "weight": "2", "json": '{"order": 42}', "name": ""},
            {"method": "GET", "path": "", "weight": "", "json": "", "name": ""},  # empty: left out
            {"method": "GET", "path": "/fast", "weight": "", "json": "", "name": "fast one"}]
    assert rows_value("endpoints", rows, testtypes.ENDPOINT) == [
        {"method": "POST", "path": "/echo", "weight": 2, "json": {"order": 42}},
        {"method": "GET", "path": "/fast", "name": "fast one"}]
    data = form_to_data("api", "endpoints", "", "load", "", "p95 < 200ms",
                        {"host": "http://127.0.0.1:8000", "auth_env": "API_TOKEN"}, {"users": "5"}, rows=rows)
    prof = profiles.parse(lab.profile_to_toml(data), "api.toml", base=tmp_path)
    assert prof.target.value == [{"method": "POST", "path": "/echo", "weight": 2, "json": {"order": 42}},
                                 {"method": "GET", "path": "/fast", "name": "fast one"}]
    assert prof.target.options["auth_env"] == "API_TOKEN"
    sql = [{"sql": "SELECT 1", "name": ""}, {"sql": "SELECT * FROM t WHERE id = ?", "name": "by id"}]
    data = form_to_data("q", "sql", "", "query", "", "", {"database": "shop.db"}, {"params": "[[1], [2]]"}, rows=sql)
    prof = profiles.parse(lab.profile_to_toml(data), "q.toml", base=tmp_path)
    assert prof.target.value == ["SELECT 1", {"sql": "SELECT * FROM t WHERE id = ?", "name": "by id"}]
    assert prof.target.options["database"] == "shop.db"


def test_endpoint_rows_validated_previewed_and_remembered(lab_dir: Path) -> None:
    """Typed with the keyboard; fields far down the form are focused directly (tabbing through the load test's
    twenty parameter fields is tested elsewhere and only slow here)."""

    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), lab_dir / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded)
            await pilot.press("n")
            form = app.screen
            assert isinstance(form, AdhocScreen)
            await wait_for(pilot, lambda: form.shown_type == "benchmark")

            async def type_into(field_id: str, text: str) -> None:
                form.query_one(f"#{field_id}").focus()
                await pilot.pause()
                await pilot.press(*text)

            form.query_one("#type").focus()
            await pilot.press("down")  # load
            await wait_for(pilot, lambda: form.shown_type == "load")
            await focus(pilot, app, "kind")
            await pilot.press("enter", "down", "down", "enter")  # locustfile, url, endpoints
            await wait_for(pilot, lambda: form.kind() == "endpoints" and form.query("#row-0-path"))
            assert not form.query_one("#value").display  # the rows replace the line of TOML
            await type_into("row-0-path", "/fast")
            await type_into("opt-host", "http://127.0.0.1:8000")
            await pilot.pause(0.1)
            assert form.profile is not None, str(form.query_one("#problems").content)
            await pilot.press("ctrl+n")  # a second endpoint
            await wait_for(pilot, lambda: form.query("#row-1-path"))
            assert app.focused is not None and app.focused.id == "row-1-path"
            await pilot.press(*"echo")  # no leading slash: the validator's own message
            await pilot.pause(0.1)
            problems = str(form.query_one("#problems").content).replace("\\[", "[")  # markup escapes
            assert form.profile is None and "target.endpoints[1].path" in problems, problems
            await pilot.press("home", "/")
            form.query_one("#row-1-method").focus()
            await pilot.press("enter", "down", "enter")  # POST
            await type_into("row-1-json", '{"a": 1}')
            await type_into("opt-auth_env", "API_TOKEN")
            await pilot.pause(0.1)
            assert form.profile is not None, str(form.query_one("#problems").content)
            assert form.profile.target.value == [{"method": "GET", "path": "/fast"},
                                                 {"method": "POST", "path": "/echo", "json": {"a": 1}}]
            preview = str(form.query_one("#preview").content)
            assert 'path = "/echo"' in preview and 'auth_env = "API_TOKEN"' in preview
            await pilot.press("escape")
            await pilot.press("n")  # opened again: the rows are still there
            again = app.screen
            assert isinstance(again, AdhocScreen) and again is not form
            await wait_for(pilot, lambda: again.shown_type == "load" and again.query("#row-1-path"))
            assert again.kind() == "endpoints"
            assert again.query_one("#row-1-path").value == "/echo"
            assert str(again.query_one("#row-1-method").value) == "POST"
            await pilot.pause(0.1)
            assert again.profile is not None and again.profile.target.value == form.profile.target.value

    asyncio.run(scenario())


def test_a_query_target_gets_statement_rows(lab_dir: Path) -> None:
    async def scenario() -> None:
        app = PerflabApp(Path("profiles"), lab_dir / "store")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.screen.loaded)
            await pilot.press("n")
            form = app.screen
            assert isinstance(form, AdhocScreen)
            await wait_for(pilot, lambda: form.shown_type == "benchmark")
            form.query_one("#type").focus()
            await pilot.press("end")  # query, the last type
            await wait_for(pilot, lambda: form.shown_type == "query" and form.query("#row-0-sql"))
            form.query_one("#row-0-sql").focus()
            await pilot.press(*"SELECT count(*) FROM t")
            form.query_one("#opt-database").focus()
            await pilot.press(*"shop.db")
            await pilot.pause(0.1)
            assert form.profile is not None, str(form.query_one("#problems").content)
            assert form.profile.target.kind == "sql" and form.profile.target.value == ["SELECT count(*) FROM t"]
            assert form.profile.target.options["database"] == "shop.db"

    asyncio.run(scenario())
