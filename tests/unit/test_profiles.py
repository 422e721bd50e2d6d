"""Profile validation: every message names the file, the line (where there is one) and the key path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from perflab.core import params as p
from perflab.core import profiles
from perflab.core.model import PerflabError
from perflab.core.profiles import ProfileError

GOOD = """\
name = "sort"
description = "demo"
timeout = "2m"

[target]
callable = "perflab.demo.sorting:counting_sort"
input = "perflab.demo.sorting:random_ints"

[test]
type = "benchmark"
n = [100, 1_000]
compare = ["builtins:sorted"]
processes = 2
max_time = "0.2s"
"""

LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<key>[\w.\[\]]+): (?P<msg>.+)$")


def problems(text: str, file: str = "bad.toml", **kw: object) -> list[str]:
    with pytest.raises(ProfileError) as info:
        profiles.parse(text, file, **kw)  # type: ignore[arg-type]
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems)
    return lines


def test_good_profile_parses_with_converted_values() -> None:
    prof = profiles.parse(GOOD, "sort.toml")
    assert prof.name == "sort"
    assert prof.timeout == 120.0
    assert prof.target.kind == "callable"
    assert prof.target.value == "perflab.demo.sorting:counting_sort"
    assert prof.test.params["n"] == [100, 1000]
    assert prof.test.params["processes"] == 2
    assert prof.test.params["max_time"] == pytest.approx(0.2)
    assert prof.test.params["min_rounds"] == 5  # default filled in
    assert prof.text == GOOD


def test_shipped_sort_profile_is_valid() -> None:
    prof = profiles.load(Path(__file__).resolve().parents[2] / "profiles" / "sort.toml")
    assert prof.test.params["n"] == [100, 10_000, 100_000]
    assert prof.test.params["compare"] == ["builtins:sorted"]
    assert prof.test.params["processes"] >= 3


def test_bad_type_names_file_line_key_and_value() -> None:
    text = GOOD.replace("processes = 2", 'processes = "ten"')
    (line,) = problems(text, "profiles/sort.toml")
    assert line == 'profiles/sort.toml:13: test.processes: expected a positive integer, got "ten"'


def test_unknown_key_has_did_you_mean_hint() -> None:
    text = GOOD.replace("processes = 2", "rounds = 10")
    (line,) = problems(text)
    assert line == 'bad.toml:13: test.rounds: unknown key (did you mean "min_rounds"?)'


def test_unknown_top_level_key_and_table_have_hints() -> None:
    lines = problems('descripton = "x"\n' + GOOD + "\n[tset]\nx = 1\n")
    assert 'bad.toml:1: descripton: unknown key (did you mean "description"?)' in lines
    assert any(x.startswith("bad.toml:") and 'tset: unknown table (did you mean "test"?)' in x for x in lines)


def test_missing_test_and_target_tables() -> None:
    lines = problems('name = "x"\n')
    assert 'bad.toml: test: missing [test] table with a "type"' in lines
    assert "bad.toml: target: missing [target] table" in lines


def test_test_and_target_given_as_values_not_tables() -> None:
    lines = problems('target = "x"\ntest = 3\n')
    assert lines == ['bad.toml:1: target: expected a [target] table, got "x"',
                     "bad.toml:2: test: expected a [test] table, got 3"]


def test_missing_test_type_lists_the_types() -> None:
    lines = problems(GOOD.replace('type = "benchmark"', ""))
    (typ,) = [x for x in lines if "test.type" in x]
    assert typ.startswith("bad.toml:9: test.type: missing required key (one of benchmark, load")


def test_unknown_test_type_with_hint() -> None:
    lines = problems(GOOD.replace('type = "benchmark"', 'type = "benchmak"'))
    assert "bad.toml:10: test.type: unknown test type 'benchmak' (did you mean \"benchmark\"?)" in lines


def test_toml_syntax_error_gives_its_line() -> None:
    text = GOOD.replace("processes = 2", "processes = = 2")
    (line,) = problems(text, "broken.toml")
    assert line.startswith("broken.toml:13: not valid TOML: ")
    assert "column" in line


def test_several_problems_reported_at_once_each_with_file_line_key() -> None:
    text = GOOD.replace("processes = 2", 'processes = "ten"\nrounds = 3').replace(
        'timeout = "2m"', 'timeout = "soon"').replace('max_time = "0.2s"', "max_time = -1")
    lines = problems(text, "multi.toml")
    assert len(lines) == 4
    for line in lines:
        m = LINE.match(line)
        assert m, line
        assert m["file"] == "multi.toml"
    keys = [LINE.match(x)["key"] for x in lines]  # type: ignore[index]
    assert set(keys) == {"timeout", "test.processes", "test.rounds", "test.max_time"}
    by_key = {LINE.match(x)["key"]: int(LINE.match(x)["line"]) for x in lines}  # type: ignore[index]
    assert by_key["timeout"] == 3
    assert by_key["test.processes"] == 13
    assert by_key["test.rounds"] == 14
    assert by_key["test.max_time"] == 15


def test_missing_target_file(tmp_path: Path) -> None:
    text = '[target]\npytest = "no_such_dir/bench"\n[test]\ntype = "benchmark"\n'
    (line,) = problems(text, base=tmp_path)
    assert line == "bad.toml:2: target.pytest: no_such_dir/bench: no such file or directory"
    (tmp_path / "no_such_dir").mkdir()
    (tmp_path / "no_such_dir" / "bench").mkdir()
    assert profiles.parse(text, "ok.toml", base=tmp_path).target.value == "no_such_dir/bench"


def test_missing_target_module() -> None:
    text = GOOD.replace("perflab.demo.sorting:counting_sort", "no_such_pkg.sorting:counting_sort")
    (line,) = problems(text)
    assert line == "bad.toml:6: target.callable: cannot import module 'no_such_pkg.sorting'"


def test_input_generator_module_is_checked_too() -> None:
    text = GOOD.replace("perflab.demo.sorting:random_ints", "nowhere:random_ints")
    assert problems(text) == ["bad.toml:7: target.input: cannot import module 'nowhere'"]


def test_bad_callable_reference() -> None:
    (line,) = problems(GOOD.replace("perflab.demo.sorting:counting_sort", "counting_sort"))
    assert line == 'bad.toml:6: target.callable: expected a callable reference "module:function", got "counting_sort"'


def test_target_needs_a_kind_and_only_one() -> None:
    lines = problems('[target]\ncalable = "a:b"\n[test]\ntype = "benchmark"\n')
    assert lines == ['bad.toml:1: target: needs one of callable, pytest (did you mean "callable"?)']
    lines = problems('[target]\ncallable = "perflab.demo.sorting:counting_sort"\npytest = "x"\n'
                     '[test]\ntype = "benchmark"\n')
    assert lines == ["bad.toml:3: target.pytest: a target has one kind; found callable, pytest"]


def test_target_kind_the_test_type_does_not_take() -> None:
    lines = problems('[target]\nurl = "http://127.0.0.1:1/"\n[test]\ntype = "benchmark"\n')
    assert lines == ["bad.toml:2: target.url: the benchmark test type takes a callable or pytest target"]


def test_top_level_value_given_as_table() -> None:
    lines = problems(GOOD.replace('timeout = "2m"\n', "") + "\n[timeout]\nx = 1\n")
    assert lines == ["bad.toml:15: timeout: expected a value, not a table, got a table"]


def test_bad_list_items_and_durations() -> None:
    lines = problems(GOOD.replace("n = [100, 1_000]", 'n = [100, "big"]')
                     .replace('compare = ["builtins:sorted"]', 'compare = ["sorted"]'))
    assert lines == ['bad.toml:11: test.n: expected a non-empty list of positive integers, got [100, \'big\']',
                     'bad.toml:12: test.compare: expected a callable reference "module:function", got "sorted"']


def test_load_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PerflabError, match=r"nope\.toml: no such profile file$"):
        profiles.load(tmp_path / "nope.toml")
    with pytest.raises(PerflabError, match="is a directory, not a profile file"):
        profiles.load(tmp_path)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PerflabError, match="bin.toml: not a UTF-8 text file"):
        profiles.load(binary)


def test_discover_folder_and_load_all_merge_problems(tmp_path: Path) -> None:
    with pytest.raises(PerflabError, match="no \\*.toml profiles in this folder"):
        profiles.discover(tmp_path)
    (tmp_path / "a.toml").write_text(GOOD.replace("processes = 2", "processes = 0"))
    (tmp_path / "b.toml").write_text(GOOD.replace('max_time = "0.2s"', 'max_time = "fast"'))
    (tmp_path / "c.toml").write_text(GOOD)
    assert [f.name for f in profiles.discover(tmp_path)] == ["a.toml", "b.toml", "c.toml"]
    with pytest.raises(ProfileError) as info:
        profiles.load_all([str(tmp_path)])
    lines = str(info.value).splitlines()
    assert lines == [f"{tmp_path / 'a.toml'}:13: test.processes: expected a positive integer, got 0",
                     f"{tmp_path / 'b.toml'}:14: test.max_time: expected a duration such as \"500ms\", "
                     "\"30s\" or \"2m\", got \"fast\""]
    assert [x.name for x in profiles.load_all([str(tmp_path / "c.toml")])] == ["sort"]


@pytest.mark.parametrize(("fn", "value", "expected"), [
    (p.duration, "500ms", 0.5), (p.duration, "2m", 120.0), (p.duration, 3, 3.0), (p.duration, "100us", 1e-4),
    (p.size, "10KiB", 10240.0), (p.size, "200MB", 200e6), (p.ratio, "5%", 0.05), (p.ratio, 0.5, 0.5),
    (p.positive_int, 3, 3), (p.callable_refs, ["builtins:sorted"], ["builtins:sorted"]), (p.port, 8080, 8080),
])
def test_param_converters(fn: p.Convert, value: object, expected: object) -> None:
    assert fn(value) == pytest.approx(expected)


@pytest.mark.parametrize(("fn", "value", "message"), [
    (p.positive_int, True, "expected a positive integer, got true"),
    (p.positive_int, -1, "expected a positive integer, got -1"),
    (p.duration, "0s", 'expected a duration such as "500ms", "30s" or "2m", got "0s"'),
    (p.ratio, "150%", 'expected a fraction between 0 and 1, got "150%"'),
    (p.boolean, "yes", 'expected true or false, got "yes"'),
    (p.string, "  ", 'expected a non-empty string, got "  "'),
    (p.any_table, [1], "expected a table, got [1]"),
    (p.port, 70000, "expected a TCP port between 1 and 65535, got 70000"),
    (p.size, "lots", 'expected a size such as "10KiB" or "200MB", got "lots"'),
])
def test_param_converter_messages(fn: p.Convert, value: object, message: str) -> None:
    with pytest.raises(p.ParamError) as info:
        fn(value)
    assert str(info.value) == message


# ------------------------------------------------------------------ hostile input: one line per problem


@pytest.mark.parametrize("value", ["[" * 600 + "]" * 600, "{a = " * 600 + "1" + "}" * 600],
                         ids=["arrays", "inline-tables"])
def test_nesting_too_deep_for_the_toml_parser_is_one_problem(value: str) -> None:
    assert problems(f"x = {value}\n" + GOOD) == ["bad.toml: nested too deeply"]


def test_nesting_deeper_than_any_test_type_uses_is_refused_with_its_key_path() -> None:
    deep = "{a = " * 40 + "1" + "}" * 40
    (line,) = problems(GOOD.replace('input = "perflab.demo.sorting:random_ints"',
                                    f'input = "perflab.demo.sorting:random_ints"\nenv = {deep}'))
    assert line.startswith("bad.toml:8: target.env.a.a.a") and line.endswith(
        f"nested too deeply (more than {profiles.MAX_DEPTH} levels of tables and arrays)")
    ok = GOOD.replace('input = "perflab.demo.sorting:random_ints"',
                      'input = "perflab.demo.sorting:random_ints"\nenv = {A = "1"}')
    assert profiles.parse(ok, "ok.toml").target.options["env"] == {"A": "1"}


@pytest.mark.parametrize(("value", "message"), [
    ("1" * 5000, "bad.toml: not valid TOML: Exceeds the limit (4300 digits) for integer string conversion"),
    ("0x" + "f" * 4000, 'bad.toml:13: test.processes: expected a positive integer up to 9223372036854775807, '
                        "got an integer of about 4817 digits"),
    ("-" + "9" * 4000, "bad.toml:13: test.processes: expected a positive integer, got an integer of about "
                       "4000 digits"),
    ("nan", "bad.toml:13: test.processes: expected a positive integer, got nan"),
], ids=["5000-digits", "hex-4000-digits", "negative-4000-digits", "nan"])
def test_huge_and_odd_numbers_are_one_line_each(value: str, message: str) -> None:
    assert problems(GOOD.replace("processes = 2", f"processes = {value}")) == [message]


@pytest.mark.parametrize(("line", "message"), [
    ("timeout = inf", 'bad.toml:3: timeout: expected a positive duration such as "30s", at most 1e+08 s, '
                      "got inf"),
    ("timeout = 1e300", 'bad.toml:3: timeout: expected a positive duration such as "30s", at most 1e+08 s, '
                        "got 1e+300"),
    ('timeout = "1e999s"', 'bad.toml:3: timeout: expected a duration such as "500ms", "30s" or "2m", '
                           'got "1e999s"'),
    ("monitor_hz = nan", "bad.toml:3: monitor_hz: expected a finite positive number up to 1e+08, got nan"),
    ("tolerance = nan", 'bad.toml:3: tolerance: expected a fraction such as 0.05 or "5%", got nan'),
])
def test_non_finite_and_absurd_numbers_are_refused(line: str, message: str) -> None:
    assert problems(GOOD.replace('timeout = "2m"', line)) == [message]


def test_control_characters_and_huge_values_never_break_the_one_line_rule() -> None:
    text = GOOD.replace('description = "demo"', 'description = "demo"\n"a\\nb\\u2028c" = 1').replace(
        'max_time = "0.2s"', 'max_time = "' + "x\\n" * 5000 + '"')
    lines = problems(text)
    assert len(lines) == 2 and all(x.startswith("bad.toml") for x in lines)
    assert 'bad.toml: a\\nb\\u2028c: unknown key' in lines
    assert max(map(len, lines)) < 300


def test_unknown_test_type_of_any_toml_type_is_named_safely() -> None:
    lines = problems(GOOD.replace('type = "benchmark"', "type = 0x" + "f" * 4000))
    assert "bad.toml:10: test.type: unknown test type an integer of about 4817 digits" in lines
    lines = problems(GOOD.replace('type = "benchmark"', "type = [[[[[1]]]]]"))
    assert "bad.toml:10: test.type: unknown test type [[[...]]]" in lines


def test_a_target_path_no_file_system_accepts_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    text = '[target]\npytest = "a\\u0000b"\n[test]\ntype = "benchmark"\n'
    (line,) = problems(text, base=tmp_path)
    assert line == "bad.toml:2: target.pytest: a\\x00b: no such file or directory"  # NUL escaped: one line
    (line,) = problems(text.replace("a\\u0000b", "x" * 5000), base=tmp_path)
    assert "target.pytest" in line and "not a usable path" in line and len(line) < 300


@pytest.mark.parametrize(("statement", "raised"), [
    ("raise RuntimeError('no import for you')", "RuntimeError: no import for you"),
    ("import sys; sys.exit(3)", "SystemExit: 3"),
])
def test_a_package_that_raises_on_import_is_a_problem(tmp_path: Path, statement: str, raised: str) -> None:
    (tmp_path / "boom").mkdir()
    (tmp_path / "boom" / "__init__.py").write_text(statement + "\n")
    text = GOOD.replace("perflab.demo.sorting:counting_sort", "boom.inner:f")
    (line,) = problems(text, base=tmp_path)
    assert line == f"bad.toml:6: target.callable: cannot import module 'boom.inner': importing it raised {raised}"


@pytest.mark.parametrize("name", ["x" * 201, "a\tb", "a\nb"])
def test_profile_names_are_bounded_and_printable(name: str) -> None:
    text = GOOD.replace('name = "sort"', f"name = {json.dumps(name)}")
    (line,) = problems(text)
    assert line.startswith("bad.toml:1: name: expected a name of at most 200 printable characters, got")


@pytest.mark.parametrize(("value", "message"), [
    ("{ A = { B = 1 } }", "A: expected a string or a number"),
    ("{ A = [1] }", "A: expected a string or a number"),
    ("{ A = true }", "A: expected a string or a number"),
    ('{ "A=B" = "x" }', "is not an environment variable name"),
])
def test_env_values_are_strings_or_numbers(value: str, message: str) -> None:
    text = f'[target]\nscript = "x.py"\nenv = {value}\n[test]\ntype = "cpu"\n'
    with pytest.raises(profiles.ProfileError) as e:
        profiles.parse(text, "p.toml")
    assert "target.env" in str(e.value) and message in str(e.value)


def test_env_numbers_become_strings() -> None:
    p = profiles.parse('[target]\ncallable = "perflab.demo.busy:crunch"\nenv = { PORT = 8000, NAME = "x" }\n'
                       '[test]\ntype = "cpu"\n', "p.toml")
    assert p.target.options["env"] == {"PORT": "8000", "NAME": "x"}
