"""Interleaved base-level schedule and the efficiency notes, from hand-written trials."""

from __future__ import annotations

from typing import Any

import pytest

from perflab.runners.concurrency.scaling import combine, schedule


def _t(level: int, throughput: float, mean: float, **extra: Any) -> dict[str, Any]:
    return {"worker": "processes", "level": level, "throughput": throughput, "mean": mean, "calls": 10,
            "errors": 0, "problem": None, "first_error": None, **extra}


def test_schedule_puts_the_base_level_around_every_other() -> None:
    assert schedule([8, 2, 1, 4, 2]) == [1, 2, 1, 4, 1, 8, 1]
    assert schedule([3]) == [3]


def test_repeats_make_one_base_row_with_the_median_rate() -> None:
    rows, notes = combine("processes", [_t(1, 100, 0.01), _t(2, 190, 0.0105), _t(1, 80, 0.0125),
                                        _t(4, 300, 0.013, problem="bad"), _t(1, 90, 0.011, problem="lost")])
    assert [r["level"] for r in rows] == [1, 2, 4]
    base = rows[0]
    assert base["throughput"] == 90 and base["calls"] == 30 and base["problem"] == "lost"
    assert [r["throughput"] for r in base["repeats"]] == [100, 80, 90]
    assert rows[1]["efficiency"] == pytest.approx(190 / 180) and rows[2]["speedup"] == pytest.approx(300 / 90)
    assert rows[1]["efficiency_range"] == pytest.approx((0.95, 190 / 160))
    # 105.6 % at level 2 is within the base level's own spread: explained as drift, not superlinear
    assert len(notes) == 1 and notes[0].text.startswith("processes at level 2: efficiency 105.6 % (95.0 %-118.8 %")
    assert "within the drift of the level-1 rate" in notes[0].text


def test_beyond_the_fastest_base_run_is_superlinear_with_per_call_times() -> None:
    rows, notes = combine("threads", [_t(1, 100, 0.01), _t(2, 600, 0.0033), _t(1, 110, 0.0091)])
    assert rows[1]["efficiency_range"][0] > 1
    assert len(notes) == 1 and "is superlinear: a call took 3.3 ms on average against 9.55 ms at level 1" \
        in notes[0].text


def test_no_note_at_or_below_100_percent() -> None:
    assert combine("threads", [_t(1, 100, 0.01), _t(2, 200, 0.01), _t(1, 100, 0.01)])[1] == []
