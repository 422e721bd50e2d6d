"""The leak verdict on real leak patterns through the real harness: a bounded cache that fills is no leak, a
leak fails the run unless growth is allowed, step-shaped leaks get intervals that cover their measured rate, and
perflab's own lines are never a growing site."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from perflab.core.model import Status
from tests.runners.profiling_helpers import run_profile

pytestmark = pytest.mark.slow

LEAKS = '''
import functools
import itertools
import logging

_keys = itertools.count()
KEEP = []
STORE = []
_log = logging.getLogger("perflab-test-leaky")


@functools.lru_cache(maxsize=1000)
def _cached(key):
    return bytes(3500)


def bounded():
    return len(_cached(next(_keys)))


def append():
    KEEP.append(bytearray(1000))


def handlers():
    _log.addHandler(logging.StreamHandler())


grow = STORE.extend  # a C function as the target: its allocations have no Python line of their own
'''


def _run(tmp_path: Path, fn: str, iterations: int, extra: str = "") -> tuple[Status, str, dict, list[str]]:
    (tmp_path / "leakmod.py").write_text(LEAKS, encoding="utf-8")
    text = textwrap.dedent(f"""
        name = "leak-{fn}"
        [target]
        callable = "leakmod:{fn}"
        {extra}
        [test]
        type = "leak"
        warmup = 20
        iterations = {iterations}
    """)
    outcome, _ = run_profile(text, tmp_path)
    r = outcome.result
    return r.status, r.message, r.data, [n.text for n in r.notes]


def test_bounded_cache_that_filled_is_no_leak(tmp_path: Path) -> None:
    status, message, data, notes = _run(tmp_path, "bounded", 1500)
    assert status is Status.PASSED, message
    assert message == "no leak after 1,520 iterations (filled by iteration 1,000)"
    g = data["growth"]
    assert not g["grows"] and g["start"] > 900 and g["before"] > 3_000
    assert any("then stayed flat" in n for n in notes)


@pytest.mark.parametrize("fn", ["append", "handlers"])
def test_step_shaped_leak_fails_and_its_interval_covers_the_measured_rate(tmp_path: Path, fn: str) -> None:
    status, message, data, _ = _run(tmp_path, fn, 400)
    assert status is Status.FAILED and message.startswith("grows ~"), message
    ys, g = data["traced"], data["growth"]
    n, h = len(ys), len(ys) // 2
    for measured in ((ys[-1] - ys[0]) / (n - 1), (ys[h] - ys[0]) / h, (ys[-1] - ys[h]) / (n - 1 - h)):
        assert g["low"] <= measured <= g["high"], (measured, g)


def test_allow_growth_reports_without_failing(tmp_path: Path) -> None:
    (tmp_path / "allow").mkdir()
    status, message, _, notes = _run(tmp_path / "allow", "append", 60)
    assert status is Status.FAILED
    (tmp_path / "b").mkdir()
    text = textwrap.dedent("""
        [target]
        callable = "leakmod:append"
        [test]
        type = "leak"
        warmup = 5
        iterations = 60
        allow_growth = true
    """)
    (tmp_path / "b" / "leakmod.py").write_text(LEAKS, encoding="utf-8")
    outcome, _ = run_profile(text, tmp_path / "b")
    assert outcome.result.status is Status.PASSED and outcome.result.message.startswith("grows ~")
    assert "growth allowed by the profile (allow_growth = true)" in [n.text for n in outcome.result.notes]


def test_perflab_lines_are_never_a_growing_site(tmp_path: Path) -> None:
    extra = "args = [" + repr(list(range(40))) + "]"
    status, _, data, notes = _run(tmp_path, "grow", 200, extra)
    assert status is Status.FAILED
    files = [s["file"] for s in data["sites"]]
    assert files[0] == "(target)", files
    assert not any("perflab" in f and "runners" in f for f in files), files
    assert any("leakmod:grow (C code, no Python line)" in n for n in notes)
