"""The load-limit note's words come from the figures it prints: hand-written level series that once produced a
note contradicting itself ("latency grows with users" next to "median latency x0.86"), one where latency really
grows, and a sweep that reads the printed figures back and checks every word against them."""

from __future__ import annotations

import itertools
import re

import pytest

from perflab.core.bottleneck import LoadLimit, annotate, load_limit
from perflab.core.model import Result, Status

FIGURES = re.compile(r"\(users x([\d.]+) gave throughput x([\d.]+) and median latency x([\d.]+)\)$")


def _figures(text: str) -> tuple[float, float, float]:
    m = FIGURES.search(text)
    assert m, text
    return float(m[1]), float(m[2]), float(m[3])


def _check_words(text: str) -> None:
    """Every word in the note agrees with the three ratios printed at its end."""
    users, rps, lat = _figures(text)
    assert ("latency grows with users" in text) == (lat >= 1.1), text
    assert ("latency falls" in text) == (lat <= 0.9), text
    assert ("latency stays about the same" in text) == (0.9 < lat < 1.1), text
    scaling = (rps - 1) / (users - 1)
    assert ("throughput still grows with users" in text) == (scaling >= 0.5), text
    assert ("throughput stays flat" in text) == (scaling < 0.5 and 0.9 < rps < 1.1), text
    assert ("throughput falls" in text) == (rps <= 0.9), text
    if "requests queue" in text:  # queueing: throughput stopped scaling and latency grew
        assert scaling < 0.5 and lat >= 1.1, text
    if "each request is slow" in text:
        assert scaling >= 0.5, text


# (users, requests/s, median latency s) per level, low to high, as the load runner stores them
CONTRADICTED = {
    # throughput flat, latency fell: the old note said "requests queue, latency grows with users" (x0.86)
    "latency fell": [(1, 50.0, 0.020), (8, 52.0, 0.0172)],
    # throughput flat, latency flat (x1): the old note still said "latency grows with users"
    "latency flat": [(2, 200.0, 0.0100), (16, 204.0, 0.0104)],
    # throughput printed x2.5 for users x4 (exactly half the added users) was called a throughput limit
    "rounded scaling": [(1, 100.0, 0.01), (4, 249.6, 0.0101)],
}


@pytest.mark.parametrize("name", sorted(CONTRADICTED))
def test_series_that_contradicted_the_note_now_agree(name: str) -> None:
    c = load_limit(CONTRADICTED[name])
    text = c.describe()
    _check_words(text)
    assert "latency grows with users" not in text


def test_flat_throughput_without_latency_growth_is_not_called_queueing() -> None:
    c = load_limit(CONTRADICTED["latency fell"])
    assert c.limit is LoadLimit.CLIENT
    assert c.describe() == ("load limit: not the server: throughput stays flat while latency falls, so the added "
                            "users sent no more requests (think time, pacing or a saturated load generator) "
                            "(users x8 gave throughput x1 and median latency x0.86)")


def test_latency_that_really_grows_is_queueing() -> None:
    # 2 -> 16 users on a saturated server: throughput +10 %, median latency x7.5 (Little's law: 8 x 1.1 / 7.5 ~ 1)
    c = load_limit([(2, 100.0, 0.020), (4, 108.0, 0.037), (16, 110.0, 0.150)])
    assert c.limit is LoadLimit.THROUGHPUT
    text = c.describe()
    _check_words(text)
    assert text.startswith("load limit: throughput: requests queue, latency grows with users")
    assert _figures(text) == (8.0, 1.1, 7.5)


def test_scaling_limit_says_when_latency_grows_too() -> None:
    text = load_limit([(10, 100.0, 0.1), (40, 300.0, 0.13)]).describe()
    _check_words(text)
    assert "each request is slow, throughput still grows with users, latency grows with users" in text


def test_large_ratios_print_as_digits() -> None:
    text = load_limit([(1, 10.0, 0.01), (120, 1200.0, 0.0105)]).describe()
    assert "users x120 gave throughput x120" in text and "e+" not in text
    _check_words(text)


def test_too_close_user_levels_give_no_verdict() -> None:
    assert load_limit([(40, 100.0, 0.1), (41, 100.0, 0.2)]).limit is LoadLimit.UNKNOWN


def test_words_agree_with_figures_over_a_sweep() -> None:
    users = (2, 3, 8, 50, 200)
    rps = (0.5, 0.86, 0.9, 0.95, 1.0, 1.05, 1.1, 1.4, 2.0, 2.5, 4.0, 30.0)
    lat = (0.5, 0.86, 0.9, 0.904, 0.95, 1.0, 1.04, 1.05, 1.1, 1.12, 2.0, 7.2, 150.0)
    seen = set()
    for u, r, lt in itertools.product(users, rps, lat):
        c = load_limit([(1, 100.0, 0.01), (u, 100.0 * r, 0.01 * lt)])
        seen.add(c.limit)
        _check_words(c.describe())
    assert seen == {LoadLimit.LATENCY, LoadLimit.THROUGHPUT, LoadLimit.CLIENT}


def test_annotate_stores_the_same_text_and_figures_it_notes() -> None:
    out = annotate(Result(Status.PASSED, data={"levels": CONTRADICTED["latency fell"]}))
    stored = out.data["load_limit"]
    assert stored["limit"] == "client"
    assert [n.text for n in out.notes if n.kind == "load.limit"] == [stored["text"]]
    assert _figures(stored["text"]) == (stored["evidence"]["users_ratio"], stored["evidence"]["rps_ratio"],
                                       stored["evidence"]["latency_ratio"])
