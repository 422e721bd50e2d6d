"""Readable numbers: SI base units in, short strings with units out."""

from __future__ import annotations

import math

import pytest

from perflab.core import units


@pytest.mark.parametrize(("seconds", "text"), [
    (2.5, "2.5 s"), (0.0123, "12.3 ms"), (1.79e-3, "1.79 ms"), (2e-6, "2 µs"), (551e-9, "551 ns"),
    (1500.0, "1500 s"), (None, "-"), (math.nan, "-"),
])
def test_duration(seconds: float | None, text: str) -> None:
    assert units.duration(seconds) == text


@pytest.mark.parametrize(("n", "binary", "text"), [
    (512, True, "512 B"), (38.1 * 1024**2, True, "38.1 MiB"), (2 * 1024**3, True, "2 GiB"),
    (1500, False, "1.5 kB"), (None, True, "-"),
])
def test_size(n: float | None, binary: bool, text: str) -> None:
    assert units.size(n, binary) == text


@pytest.mark.parametrize(("r", "text"), [
    (477_000, "477 k/s"), (2_500_000, "2.5 M/s"), (554.7, "554.7/s"), (None, "-"),
])
def test_rate(r: float | None, text: str) -> None:
    assert units.rate(r) == text


def test_ratio_percent_and_value_by_unit() -> None:
    assert units.ratio(0.793) == "0.793x"
    assert units.ratio(None) == "-"
    assert units.percent(0.0123) == "1.2 %"
    assert units.value(0.002, "s") == "2 ms"
    assert units.value(1024, "B") == "1 KiB"
    assert units.value(12_345, "count") == "12,345"
    assert units.value(0.5, "ratio") == "0.5x"
    assert units.value(20_000, "/s") == "20 k/s"
