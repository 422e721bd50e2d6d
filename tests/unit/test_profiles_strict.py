"""The profile schema is strict: a value of the wrong TOML type is refused with one line naming the file, the
line and the key path, never converted; the declarations themselves are complete (help, valid defaults, a type
phrase for the docs' reference)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perflab import cli
from perflab.core import params as p
from perflab.core import profiles, testtypes
from perflab.core.params import Param
from perflab.core.profiles import ProfileError

BENCH = ('callable = "perflab.demo.sorting:counting_sort"', "benchmark")
CPU_CALL = ('callable = "perflab.demo.busy:crunch"', "cpu")
CPU_SCRIPT = ('script = "job.py"', "cpu")
LEAK = ('callable = "perflab.demo.leaky:process_record"', "leak")
LOAD = ('url = "http://127.0.0.1:9/"', "load")
STRESS = ('url = "http://127.0.0.1:9/"', "stress")
QUERY = ('sql = "SELECT 1"', "query")
SERVE = '[serve]\ncommand = "demo"\n'  # its next line is line 11


def profile(target: tuple[str, str], *, top: str = "", options: str = "", test: str = "", extra: str = "") -> str:
    """A profile whose lines are fixed: 2 ``top``, 4 the target kind, 5 ``options``, 8 ``test``, 9.. ``extra``."""
    kind, ttype = target
    return f'name = "strict"\n{top}\n[target]\n{kind}\n{options}\n[test]\ntype = "{ttype}"\n{test}\n{extra}'


def problems(text: str, base: Path) -> list[str]:
    with pytest.raises(ProfileError) as info:
        profiles.parse(text, "bad.toml", base=base)
    return str(info.value).splitlines()


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "job.py").write_text("print('job')\n")
    return tmp_path


ROW = "a parameter row: a list (positional) or a table (named)"
PLAIN = "a string, number, boolean, list or table (not a date or time)"  # values that reach a child as JSON

# (profile text, the one problem line): each value used to load, converted to something else.
REFUSED = {
    "description-number": (profile(BENCH, top="description = 12"),
                           "bad.toml:2: description: expected a string, got 12"),
    "description-date": (profile(BENCH, top="description = 1979-05-27"),
                         "bad.toml:2: description: expected a string, got datetime.date(1979, 5, 27)"),
    "script-args-string": (profile(CPU_SCRIPT, options='args = "abc"'),
                           'bad.toml:5: target.args: expected a list of strings, got "abc"'),
    "script-args-mixed": (profile(CPU_SCRIPT, options='args = ["--n", 10]'),
                          "bad.toml:5: target.args: expected a list of strings, got ['--n', 10]"),
    "callable-args-string": (profile(CPU_CALL, options='args = "abc"'),
                             'bad.toml:5: target.args: expected a list, got "abc"'),
    "callable-args-table": (profile(BENCH, options="args = { a = 1 }"),
                            "bad.toml:5: target.args: expected a list, got a table"),
    "callable-args-date": (profile(CPU_CALL, options="args = [1, 1979-05-27]"),
                           f"bad.toml:5: target.args[1]: expected {PLAIN}, got datetime.date(1979, 5, 27)"),
    "generator-params-time": (profile(LEAK, test="params = { at = 07:32:00 }"),
                              f"bad.toml:8: test.params.at: expected {PLAIN}, got datetime.time(7, 32)"),
    "compare-string": (profile(BENCH, test='compare = "builtins:sorted"'),
                       'bad.toml:8: test.compare: expected a list of "module:function" references, '
                       'got "builtins:sorted"'),
    "secrets-string": (profile(BENCH, top='secrets = "API_TOKEN"'),
                       'bad.toml:2: secrets: expected a list of strings, got "API_TOKEN"'),
    "thresholds-string": (profile(BENCH, top='thresholds = "median < 1s"'),
                          'bad.toml:2: thresholds: expected a list of strings, got "median < 1s"'),
    "pytest-args-string": (profile(BENCH, test='pytest_args = "-x"'),
                           'bad.toml:8: test.pytest_args: expected a list of strings, got "-x"'),
    "locust-args-string": (profile(LOAD, test='locust_args = "--x"'),
                           'bad.toml:8: test.locust_args: expected a list of strings, got "--x"'),
    "slo-string": (profile(STRESS, test='slo = "p95 < 1s"'),
                   'bad.toml:8: test.slo: expected a list of strings, got "p95 < 1s"'),
    "expect-string": (profile(QUERY, test='expect = "no_full_scan"'),
                      'bad.toml:8: test.expect: expected a list of strings, got "no_full_scan"'),
    "serve-args-string": (profile(LOAD, extra=SERVE + 'args = "--cpu-ms 4"'),
                          'bad.toml:11: serve.args: expected a list of strings, got "--cpu-ms 4"'),
    "duration-without-unit": (profile(BENCH, top='timeout = "30"'),
                              'bad.toml:2: timeout: expected a duration such as "500ms", "30s" or "2m", got "30" '
                              "(a string needs a unit; a number of seconds needs no quotes)"),
    "size-without-unit": (profile(LEAK, test='min_growth = "1024"'),
                          'bad.toml:8: test.min_growth: expected a size such as "10KiB" or "200MB", got "1024" '
                          "(a string needs a unit; a number of bytes needs no quotes)"),
    "percent-in-words": (profile(BENCH, top='tolerance = "5 percent"'),
                         'bad.toml:2: tolerance: expected a fraction such as 0.05 or "5%", got "5 percent"'),
    "log-limit-fraction": (profile(BENCH, top="log_limit = 4096.5"),
                           'bad.toml:2: log_limit: expected a whole number of bytes, or a size such as "4MiB", '
                           "got 4096.5"),
    "bench-params-string": (profile(BENCH, test='params = { m = "abc" }'),
                            'bad.toml:8: test.params.m: expected a non-empty list of values, got "abc"'),
    "query-params-scalars": (profile(QUERY, test="params = [1, 2]"),
                             f"bad.toml:8: test.params[0]: expected {ROW}, got 1"),
    "query-params-string": (profile(QUERY, test='params = "abc"'),
                            "bad.toml:8: test.params: expected a list of parameter rows such as [[490], [495]], "
                            'got "abc"'),
    "headers-number": (profile(LOAD, options="headers = { X-Client = 1 }"),
                       "bad.toml:5: target.headers.X-Client: expected a string, got 1"),
    "auth-scheme-number": (profile(LOAD, options="auth_scheme = 1"),
                           "bad.toml:5: target.auth_scheme: expected a string, got 1"),
    "host-without-scheme": (profile(LOAD, options='host = "127.0.0.1:8000"'),
                            'bad.toml:5: target.host: expected an http:// or https:// URL, got "127.0.0.1:8000"'),
    "ready-path-number": (profile(LOAD, extra=SERVE + "ready_path = 5"),
                          'bad.toml:11: serve.ready_path: expected a path starting with "/", or "" for none, got 5'),
    "ready-path-relative": (profile(LOAD, extra=SERVE + 'ready_path = "health"'),
                            'bad.toml:11: serve.ready_path: expected a path starting with "/", or "" for none, '
                            'got "health"'),
    "serve-port-too-big": (profile(LOAD, extra=SERVE + "port = 70000"),
                           "bad.toml:11: serve.port: expected a TCP port between 1 and 65535, or 0 for a free one, "
                           "got 70000"),
    "serve-env-boolean": (profile(LOAD, extra=SERVE + "env = { A = true }"),
                          "bad.toml:11: serve.env.A: expected a string or a number, got true"),
    "master-port-too-big": (profile(LOAD, test="master_port = 70000"),
                            "bad.toml:8: test.master_port: expected a TCP port between 1 and 65535, or 0 for a free "
                            "one, got 70000"),
    "endpoint-name-number": (profile(('endpoints = [{ path = "/a", name = 12 }]', "load")),
                             "bad.toml:4: target.endpoints[0].name: expected a non-empty string, got 12"),
    "endpoint-method-number": (profile(('endpoints = [{ path = "/a" }, { path = "/b", method = 1 }]', "load")),
                               "bad.toml:4: target.endpoints[1].method: expected one of GET, POST, PUT, PATCH, "
                               "DELETE, HEAD, OPTIONS (in any case), got 1"),
    "endpoint-json-date": (profile(('endpoints = [{ path = "/a", json = { at = 1979-05-27 } }]', "load")),
                           "bad.toml:4: target.endpoints[0].json.at: expected a JSON value (a table, list, string, "
                           "number or boolean), got datetime.date(1979, 5, 27)"),
    "statement-name-number": (profile(('sql = [{ sql = "SELECT 1", name = 3 }]', "query")),
                              "bad.toml:4: target.sql[0].name: expected a non-empty string, got 3"),
    "statement-params-scalars": (profile(('sql = [{ sql = "SELECT ?", params = [1] }]', "query")),
                                 f"bad.toml:4: target.sql[0].params[0]: expected {ROW}, got 1"),
    "statement-params-datetime": (profile(('sql = [{ sql = "SELECT ?", params = [[1979-05-27T07:32:00]] }]', "query")),
                                  f"bad.toml:4: target.sql[0].params[0][0]: expected {PLAIN}, "
                                  "got datetime.datetime(1979, 5, 27, 7, 32)"),
    "statement-expect-string": (profile(('sql = [{ sql = "SELECT 1", expect = "no_full_scan" }]', "query")),
                                'bad.toml:4: target.sql[0].expect: expected a list of strings, got "no_full_scan"'),
    "env-not-a-number": (profile(CPU_CALL, options="env = { A = nan }"),
                         "bad.toml:5: target.env.A: expected a finite number, got nan"),
    "command-empty-program": (profile(('command = ["", "x"]', "cpu")),
                              "bad.toml:4: target.command: expected a command: a list of strings, or one string "
                              "split as a shell would, got ['', 'x']"),
    "command-unclosed-quote": (profile(("command = \"python 'x\"", "cpu")),
                               "bad.toml:4: target.command: expected a command: a list of strings, or one string "
                               "split as a shell would, got \"python 'x\" (no closing quotation)"),
    # Refused before too; kept here so a looser converter cannot bring the coercion back.
    "bool-as-int": (profile(CPU_CALL, test="rate = true"),
                    "bad.toml:8: test.rate: expected a positive integer, got true"),
    "float-as-int": (profile(BENCH, test="processes = 3.0"),
                     "bad.toml:8: test.processes: expected a positive integer, got 3.0"),
    "int-as-bool": (profile(BENCH, test="warmup = 1"), "bad.toml:8: test.warmup: expected true or false, got 1"),
    "mixed-int-list": (profile(BENCH, test="n = [10, 20.0]"),
                       "bad.toml:8: test.n: expected a non-empty list of positive integers, got [10, 20.0]"),
}


@pytest.mark.parametrize(("text", "line"), list(REFUSED.values()), ids=list(REFUSED))
def test_a_wrong_type_is_one_line_with_file_line_and_key_path(text: str, line: str, base: Path) -> None:
    assert problems(text, base) == [line]


def test_statement_tables_get_unknown_key_hints_and_required_keys(base: Path) -> None:
    text = profile(('sql = [{ sq = "SELECT 1" }]', "query"))
    assert problems(text, base) == ['bad.toml:4: target.sql[0].sq: unknown key (did you mean "sql"?)',
                                    "bad.toml:4: target.sql[0].sql: missing required key"]


def test_the_formats_own_conversions_still_load(base: Path) -> None:
    """Units, a command as one string, numbers in env: syntax of the format, documented in docs/profiles.md."""
    prof = profiles.parse(profile(("command = \"python -c 'print(1)'\"", "cpu"),
                                  top='timeout = 30\ntolerance = "5%"\nlog_limit = "1.5KiB"',
                                  options='env = { PORT = 8000, NAME = "x" }', test='duration = "500ms"'),
                          "ok.toml", base=base)
    assert prof.target.value == ["python", "-c", "print(1)"]
    assert prof.target.options["env"] == {"PORT": "8000", "NAME": "x"}
    assert (prof.timeout, prof.tolerance, prof.log_limit) == (30.0, 0.05, 1536)
    assert prof.test.params["duration"] == 0.5
    load = profiles.parse(profile(('endpoints = [{ path = "/a", method = "post", json = { n = [1, 2] } }]',
                                   "load"), extra=SERVE + 'args = ["--cpu-ms", "4"]'), "ok.toml", base=base)
    assert load.target.value == [{"path": "/a", "method": "POST", "json": {"n": [1, 2]}}]
    assert load.extra["serve"]["command"] == ["demo"]
    query = profiles.parse(profile(('sql = ["SELECT 1", { sql = "SELECT ?", params = [[1], { a = 2 }] }]', "query")),
                           "ok.toml", base=base)
    assert query.target.value == ["SELECT 1", {"sql": "SELECT ?", "params": [[1], {"a": 2}]}]


def test_the_cli_refuses_a_coercion_with_exit_2_and_no_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text("print('a')\n")
    (tmp_path / "bad.toml").write_text('description = 12\n[target]\nscript = "a.py"\nargs = "abc"\n'
                                       '[test]\ntype = "cpu"\n')
    assert cli.main(["--headless", "bad.toml", "--store", str(tmp_path / "store")]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == ["bad.toml:1: description: expected a string, got 12",
                                        'bad.toml:4: target.args: expected a list of strings, got "abc"']


# ------------------------------------------------------------------ the declarations themselves


def declared() -> Iterator[tuple[str, Param]]:
    """Every key of every table a profile may hold, with a name for the failure message."""
    for key, param in profiles.TOP_LEVEL.items():
        yield key, param
    for table, schema in profiles.EXTRA_TABLES.items():
        for key, param in schema.items():
            yield f"{table}.{key}", param
    for table, schema in (("target.endpoints[]", testtypes.ENDPOINT), ("target.sql[]", testtypes.STATEMENT)):
        for key, param in schema.items():
            yield f"{table}.{key}", param
    for tt in testtypes.TEST_TYPES.values():
        for key, param in tt.params.items():
            yield f"{tt.name}: test.{key}", param
        for key, param in tt.target_options.items():
            yield f"{tt.name}: target.{key}", param


DECLARED = list(declared())


def test_the_walk_covers_every_table() -> None:
    names = {name for name, _ in DECLARED}
    assert {"description", "serve.env", "gate.max_cv", "target.endpoints[].name", "target.sql[].params",
            "query: target.engine", "stress: test.locust_args"} <= names
    assert len(DECLARED) > 150


def test_every_declared_key_has_help() -> None:
    assert [name for name, param in DECLARED if not param.help.strip()] == []


def test_every_default_passes_its_own_converter_unchanged() -> None:
    bad: list[str] = []
    for name, param in DECLARED:
        if param.default is None:  # not set
            continue
        try:
            converted = param.convert(param.default)
        except p.ParamError as e:
            bad.append(f"{name}: {e}")
            continue
        if converted != param.default or type(converted) is not type(param.default):
            bad.append(f"{name}: {param.default!r} converts to {converted!r}")
    assert bad == []


def test_required_keys_have_no_default() -> None:
    assert [name for name, param in DECLARED if param.required and param.default is not None] == []


class _Foreign:
    """A value no TOML document holds: every converter must refuse it with its type phrase."""


def _converters() -> Iterator[tuple[str, Any]]:
    for name, param in DECLARED:
        yield name, param.convert
    for kind, convert in profiles.KIND_CONVERT.items():
        yield f"target.{kind}", convert


@pytest.mark.parametrize(("name", "convert"), list(_converters()), ids=[n for n, _ in _converters()])
def test_every_converter_names_the_type_it_expected(name: str, convert: Any) -> None:
    """The docs' reference shows this phrase as the key's type; a converter without one would be a blank."""
    with pytest.raises(p.ParamError) as info:
        convert(_Foreign())
    message = str(info.value)
    assert message.startswith("expected ") and ", got " in message, (name, message)


@pytest.mark.parametrize("value", ["abc", 12, 1.5, True, datetime.date(2024, 1, 1), {"a": 1}],
                         ids=["str", "int", "float", "bool", "date", "table"])
def test_list_converters_take_only_lists(value: object) -> None:
    for convert in (p.string_list, p.callable_refs, p.any_list, p.parameter_rows):
        with pytest.raises(p.ParamError):
            convert(value)
