"""perflab.demo.knob: PERFLAB_DEMO_SLOWDOWN parsing (the time it adds is measured in tests/performance)."""

from __future__ import annotations

import pytest

from perflab.demo import knob


@pytest.mark.parametrize(("raw", "expected"), [("", 0.0), ("0.10", 0.10), ("1", 1.0), ("-0.5", 0.0),
                                               ("ten", 0.0), ("2.5", 2.5)])
def test_fraction_parses_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str, expected: float) -> None:
    monkeypatch.setenv(knob.ENV, raw)
    assert knob.fraction() == expected


def test_no_slowdown_leaves_the_function_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(knob.ENV, raising=False)

    def f(x: int) -> int:
        return x + 1

    assert knob.slowed(f) is f


def test_slowdown_wraps_and_keeps_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(knob.ENV, "0.10")

    def f(x: int) -> int:
        return x * 2

    g = knob.slowed(f)
    assert g is not f and g(21) == 42 and g.__name__ == "f"
