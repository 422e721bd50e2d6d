"""Fuzz: generated profiles, threshold expressions and baseline files go through the CLI in-process
(``perflab.cli.main``) and never produce a traceback, an internal error or a multi-line error.

Every generated profile is invalid on purpose (its first line is an unknown key), so validation always
refuses it and nothing ever runs; validation still checks every other key, so every converter, the
threshold parser and the target checks see the generated values. Baselines go through ``baseline show``
and ``compare`` (which reads both files and runs the significance test on their raw samples).

Bounded for CI: ``derandomize`` makes each run the same examples, ``PERFLAB_FUZZ_EXAMPLES`` sets the
examples per test (default 200, about half a minute here). A long run by hand, 2,000 cases of each kind, with
the count of cases run printed at the end:

    PERFLAB_FUZZ_EXAMPLES=2000 python -m pytest tests/reliability/test_fuzz.py -q -s
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perflab import cli
from perflab.core import testtypes
from perflab.core.thresholds import METRIC_KINDS, PREDICATES, UNITS

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("PERFLAB_FUZZ_EXAMPLES") or 200)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
SENTINEL = "fuzz_unknown_key = 1\n"  # an unknown key: no generated profile is ever valid, so none runs
CODES = {0, 1, 2, 3}


class Raw(str):
    """TOML text placed as is (deep nesting, literals a dict cannot express)."""


# ------------------------------------------------------------------ TOML values and their text

def _toml_str(s: str) -> str:
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_str(k)


def toml_value(v: Any) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def toml_doc(top: dict[str, Any], tables: dict[str, dict[str, Any]]) -> str:
    lines = [f"{_key(k)} = {toml_value(v)}" for k, v in top.items()]
    for name, body in tables.items():
        lines.append(f"[{_key(name)}]")
        lines += [f"{_key(k)} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


ODD_STRINGS = ["", " ", "5ms", "0s", "-5s", "1e999s", "1.5.2s", "ms", "5 min", "5µs", "５ms", "10 parsecs",
               "1_000ms", "nan", "inf", "5%", "150%", "-1%", "nan%", "10KiB", "1e400GB", "demo", "\u2028",
               "a\nb", "\x00", "é" * 300, "x" * 5000, "{port}", "http://", "https://127.0.0.1:1/",
               "sqlite:///nope.db", "SELECT 1", "[" * 40, "'", '"', "\\", "🙂", "\ud7ff"]
DEEP = st.integers(30, 700).flatmap(lambda n: st.sampled_from([
    Raw("[" * n + "]" * n), Raw("{a = " * n + "1" + "}" * n), Raw("[{x = " * (n // 2) + "1" + "}]" * (n // 2))]))
HUGE_INTS = st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, 10**400, -(10**4000)]).map(
    lambda i: Raw(str(i)) if abs(i) > 10**4000 else i)
scalars = st.one_of(
    st.integers(-10, 10**6), HUGE_INTS, st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(max_size=30), st.sampled_from(ODD_STRINGS),
    st.sampled_from([Raw("1979-05-27T07:32:00Z"), Raw("1979-05-27"), Raw("07:32:00"), Raw("0x" + "f" * 40),
                     Raw("0o777"), Raw("+inf"), Raw("-nan"), Raw("1e-400")]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
# Values that stop validation at once (too deep, too many digits for TOML): placed in a few examples only, so
# that the others reach every converter.
STOPPERS = DEEP | st.just(Raw("1" * 5000))

MODULES = st.one_of(
    st.builds(lambda a, b: f"nosuch_fuzz{a}:{b}", st.from_regex(r"[a-z0-9_.]{0,8}", fullmatch=True),
              st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)),
    st.sampled_from(["perflab.demo.sorting:counting_sort", "builtins:sorted", ":", "a:", ":b", "a..b:c",
                     "nosuch_fuzz:", "é:f", "nosuch_fuzz.\u00e9:f"]),
)
PATHS = st.one_of(st.sampled_from(["missing.py", "no/such/dir", "", ".", "/", "a\x00b", "x" * 300,
                                   "/".join(["x" * 200] * 30), "../../..", "~"]), st.text(max_size=20))


# ------------------------------------------------------------------ threshold expressions

METRICS = sorted(set(METRIC_KINDS) | set(PREDICATES) | {"requests", "full_scans", "nosuch", "p95.x", "_"})
NUMBERS = st.one_of(
    st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=False).map(repr), HUGE_INTS.map(str),
    st.sampled_from(["1e999", "-1e999", "1_000", "1__0", "1.", ".5", "5e", "1e-400", "０", "٣", "1e5_0", "+", "-"]))
thresholds = st.one_of(
    st.builds(
        lambda m, arg, sel, op, num, unit, sp: f"{m}{arg}{sel}{sp}{op}{sp}{num}{sp}{unit}",
        st.sampled_from(METRICS) | st.text(max_size=8),
        st.sampled_from(["", "(builtins:sorted)", "()", "(", "(a)b)", '("idx")', "(\n)"]),
        st.sampled_from(["", "{n=100}", "{}", "{a=}", "{=b}", "{a=1,b=2}", "{", "{a=1"]),
        st.sampled_from(["<", "<=", ">", ">=", "=", "==", "=<", "", "<<"]),
        NUMBERS,
        st.sampled_from(sorted(UNITS) + ["", "sec", "ms2", "parsecs", "/m", "%%", "µ", "KIB", " ms", "ms x"]),
        st.sampled_from(["", " ", "  ", "\t", "\u2028", "\u3000"]),
    ),
    st.text(max_size=40),
)


# ------------------------------------------------------------------ profiles

@st.composite
def profiles(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:  # arbitrary text
        return draw(st.text(max_size=200))
    types = sorted(testtypes.TEST_TYPES)
    ttype = draw(st.sampled_from(types) | st.sampled_from(["", "benchmak", "LOAD"]) | values)
    tt = testtypes.get(ttype) if isinstance(ttype, str) else None
    top: dict[str, Any] = {}
    for key, strat in (("name", st.text(max_size=30) | values), ("description", values),
                       ("timeout", st.sampled_from(ODD_STRINGS) | values), ("tolerance", values),
                       ("monitor_hz", values), ("secrets", values),
                       ("thresholds", st.lists(thresholds, max_size=4) | values)):
        if draw(st.booleans()):
            top[key] = draw(strat)
    if draw(st.integers(0, 4)) == 0:
        top[draw(st.text(max_size=12))] = draw(values)
    target: dict[str, Any] = {}
    kinds = list(tt.target_kinds) if tt else ["callable", "pytest", "url", "sql", "command"]
    for k in draw(st.lists(st.sampled_from(kinds + ["nosuch_kind"]), min_size=0, max_size=2, unique=True)):
        if k == "callable":
            target[k] = draw(MODULES | values)
        elif k in ("pytest", "script", "locustfile"):
            target[k] = draw(PATHS | values)
        else:
            target[k] = draw(values | st.sampled_from(ODD_STRINGS))
    options = sorted(tt.target_options) if tt else ["input", "cwd", "env", "args"]
    for o in draw(st.lists(st.sampled_from(options + ["inptu"]), max_size=3, unique=True)):
        target[o] = draw(MODULES) if o in ("input", "setup", "invariant") and draw(st.booleans()) else draw(values)
    test: dict[str, Any] = {"type": ttype} if draw(st.integers(0, 9)) else {}
    names = sorted(tt.params) if tt else ["n", "duration", "users"]
    for name in draw(st.lists(st.sampled_from(names + ["rounds"]), max_size=5, unique=True)):
        test[name] = draw(values | st.sampled_from(ODD_STRINGS))
    tables = {"target": target, "test": test}
    for extra in draw(st.lists(st.sampled_from(["serve", "gate", "tset", "name"]), max_size=2, unique=True)):
        tables[extra] = draw(st.dictionaries(st.sampled_from(["command", "port", "env", "max_cv", "confidence",
                                                              "min_processes", "x"]), values, max_size=3))
    if kind == 2:
        where = draw(st.sampled_from([top, target, test]))
        where[draw(st.sampled_from(["x", "env", "n", "timeout", "params"]))] = draw(STOPPERS)
    text = toml_doc(top, tables)
    if kind == 1:  # cut anywhere: truncated files
        text = text[: draw(st.integers(0, len(text)))]
    return text


CASES_RUN: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _count_cases() -> Iterator[None]:
    yield
    print(f"\nfuzz cases run: {sum(CASES_RUN.values())} ({', '.join(f'{k} {v}' for k, v in CASES_RUN.items())})")


def run(*args: str) -> tuple[int, str, str]:
    """``perflab ARGS`` in-process: exit code, stdout, stderr. A Python warning (numpy's overflow, say) would
    be lines on a real stderr, so it counts as stderr here."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = cli.main(list(args))
    extra = "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
    return code, out.getvalue(), err.getvalue() + extra


def assert_clean(code: int, out: str, err: str, *, line_prefixes: tuple[str, ...] = ("perflab: ",)) -> None:
    """No traceback, a documented code, and an error is one line (a profile error: one line per problem, each
    naming the file)."""
    assert "Traceback" not in out + err, err
    assert code in CODES, (code, err)
    lines = [x for x in err.splitlines() if x.strip()]
    if code in (0, 1):
        assert lines == [], err
    elif code == 2 and line_prefixes != ("perflab: ",):
        assert lines and all(x.startswith(line_prefixes) for x in lines), err
    else:
        assert len(lines) == 1, err


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERFLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("PERFLAB_BASELINES", str(tmp_path / "baselines"))
    return tmp_path


@FUZZ
@given(text=profiles())
def test_generated_profiles_fail_validation_in_one_line_each(work: Path, text: str) -> None:
    CASES_RUN["profiles"] = CASES_RUN.get("profiles", 0) + 1
    path = work / "fuzz.toml"
    path.write_text(SENTINEL + text, encoding="utf-8")
    code, out, err = run("--headless", str(path), "-q", "--store", str(work / "store"))
    assert_clean(code, out, err, line_prefixes=(f"{path}:", "perflab: "))
    assert code == 2, err  # never valid: nothing ran
    assert not (work / "store" / "perflab.db").exists()


@FUZZ
@given(exprs=st.lists(thresholds, min_size=1, max_size=3))
def test_generated_thresholds_are_refused_or_accepted_in_one_line(work: Path, exprs: list[str]) -> None:
    CASES_RUN["thresholds"] = CASES_RUN.get("thresholds", 0) + 1
    path = work / "thresholds.toml"
    body = (f"thresholds = {toml_value(exprs)}\n[target]\ncallable = \"perflab.demo.sorting:counting_sort\"\n"
            "[test]\ntype = \"benchmark\"\n")
    path.write_text(SENTINEL + body, encoding="utf-8")
    code, out, err = run("--headless", str(path), "-q", "--store", str(work / "store"))
    assert_clean(code, out, err, line_prefixes=(f"{path}:", "perflab: "))
    assert code == 2 and "fuzz_unknown_key: unknown key" in err


# ------------------------------------------------------------------ baselines

KEY = "median{benchmark=f[n=1]}"
GOOD: dict[str, Any] = {
    "format": "perflab-baseline", "version": 1, "profile": "fuzz", "test_type": "benchmark",
    "created": 1.7e9, "created_utc": "2023-11-14T22:13:20Z", "perflab_version": "0.1.0", "session": None,
    "source": "perflab", "summary_only": False, "machine": {"cpu": "X", "cores": 2}, "git": {"commit": "abc"},
    "metrics": [{"name": "median", "value": 0.002, "unit": "s", "labels": {"benchmark": "f[n=1]"},
                 "comparable": True}],
    "raw": {KEY: [[0.001, 0.002, 0.003, 0.002, 0.002], [0.002, 0.002, 0.0021, 0.0019, 0.002]]},
}
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(-(10**400), 10**400) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)
# Mostly finite samples, so that most generated baselines are read and compared (zeros, negatives, tiny and
# huge values, one round, empty processes); NaN and infinities now and then.
sample = st.floats(-1e300, 1e300) | st.integers(-5, 10**20) | st.just(0.0) | st.floats(1e-9, 1e-3)
samples = st.lists(st.lists(sample, max_size=12), max_size=5) | st.lists(
    st.lists(sample | st.sampled_from([math.nan, math.inf, -math.inf]), max_size=4), max_size=3)


@st.composite
def baseline_docs(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return draw(st.text(max_size=100))
    if kind == 1:
        n = draw(st.integers(10, 100_000))
        return draw(st.sampled_from(["[" * n + "]" * n, '{"a": ' * n + "1" + "}" * n, "1" * (n + 4301)]))
    doc = json.loads(json.dumps(GOOD))
    if draw(st.booleans()):
        doc["raw"] = {draw(st.sampled_from([KEY, "relative{benchmark=f[n=1]}", "x", ""])): draw(samples)
                      for _ in range(draw(st.integers(0, 3)))}
    wrong = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 4]))  # fields of a wrong type; none in many examples
    for field in draw(st.lists(st.sampled_from(sorted(GOOD) + ["extra"]), min_size=wrong, max_size=wrong,
                               unique=True)):
        doc[field] = draw(json_values)
    if draw(st.integers(0, 3)) == 0 and isinstance(doc.get("metrics"), list) and doc["metrics"] \
            and isinstance(doc["metrics"][0], dict):
        m = dict(doc["metrics"][0])
        m[draw(st.sampled_from(["name", "value", "unit", "labels", "comparable"]))] = draw(json_values)
        doc["metrics"] = [m]
    if draw(st.integers(0, 3)) == 0 and isinstance(doc.get("raw"), dict):
        doc["raw"] = dict(doc["raw"])
        doc["raw"][KEY] = draw(json_values)
    text = json.dumps(doc)
    if kind == 2:
        text = text[: draw(st.integers(0, len(text)))]
    return text


@FUZZ
@given(text=baseline_docs())
def test_generated_baselines_are_read_or_refused_in_one_line(work: Path, text: str) -> None:
    CASES_RUN["baselines"] = CASES_RUN.get("baselines", 0) + 1
    path, good = work / "fuzzed.json", work / "good.json"
    content = text.encode("utf-8")
    path.write_bytes(content)
    good.write_text(json.dumps(GOOD), encoding="utf-8")
    for args in (("baseline", "show", str(path)), ("compare", str(good), str(path)),
                 ("compare", str(path), str(path))):
        code, out, err = run(*args)
        assert_clean(code, out, err)
        if code == 2:
            assert str(path) in err, err
    assert path.read_bytes() == content  # refused or read, never rewritten
