"""One unit vocabulary: what a profile accepts as a duration or a size, a threshold accepts too, with the same
value, and every display formats it back readably (core.units)."""

from __future__ import annotations

import pytest

from perflab.core import params, thresholds, units


@pytest.mark.parametrize("unit", units.units_of(units.Kind.TIME))
def test_a_duration_unit_means_the_same_in_a_profile_and_a_threshold(unit: str) -> None:
    in_profile = params.duration(f"2{unit}")
    in_threshold = thresholds.parse(f"p95 < 2{unit}").value
    assert in_profile == pytest.approx(in_threshold) == pytest.approx(2 * units.UNITS[unit][0])


@pytest.mark.parametrize("unit", units.units_of(units.Kind.SIZE))
def test_a_size_unit_means_the_same_in_a_profile_and_a_threshold(unit: str) -> None:
    in_profile = params.size(f"10{unit}")
    in_threshold = thresholds.parse(f"peak_rss < 10{unit}").value
    assert in_profile == pytest.approx(in_threshold) == pytest.approx(10 * units.UNITS[unit][0])


def test_a_percent_means_the_same_in_a_profile_and_a_threshold() -> None:
    assert params.ratio("5%") == pytest.approx(thresholds.parse("error_rate < 5%").value) == pytest.approx(0.05)


@pytest.mark.parametrize("text", ["2", "2 parsecs", "2mb", "", "ms", "2 s s"])
def test_parse_refuses_what_is_not_a_number_with_a_known_unit(text: str) -> None:
    with pytest.raises(ValueError):
        units.parse(text)


def test_parse_refuses_a_unit_of_another_kind() -> None:
    with pytest.raises(ValueError, match="not a unit of a size"):
        units.parse("2ms", units.Kind.SIZE)
    assert units.parse("2ms", units.Kind.TIME) == pytest.approx(0.002)


@pytest.mark.parametrize(("n", "shown"), [(1000 * 1024, "1000 KiB"), (1023 * 1024, "1023 KiB"),
                                          (999.5 * 1024, "1000 KiB"),
                                          (1.5 * 1024**2, "1.5 MiB"), (512, "512 B")])
def test_sizes_near_the_next_unit_print_as_digits(n: float, shown: str) -> None:
    assert units.size(n) == shown
    assert "e+" not in units.size(n)


@pytest.mark.parametrize("text", [units.duration(0.9997), units.duration(999.7e-6), units.rate(999_999.0),
                                  units.size(1023.9 * 1024**2)])
def test_no_display_falls_into_scientific_notation(text: str) -> None:
    assert "e+" not in text
