"""Per-user-level figures (what the load-limit note reads) come from steady intervals only."""

from __future__ import annotations

from perflab.runners.agents.wire import Tick
from perflab.runners.load.stats import LoadStats, add_tick, new_histogram


def _tick(users: int, requests: int, ms: float, dt: float = 1.0) -> Tick:
    h = new_histogram()
    for _ in range(requests):
        h.record_value(int(ms * 1000))
    return Tick(endpoints={"GET /": {"n": requests, "f": 0, "h": h.encode().decode("ascii")}}, dt=dt, users=users)


def test_ramp_and_shutdown_ticks_make_no_level() -> None:
    stats = LoadStats()
    ticks = [_tick(2, 50, 10), _tick(5, 90, 30), _tick(8, 100, 60),  # ramp-up: users change every tick
             _tick(8, 130, 60), _tick(8, 130, 60),                      # steady at 8 users
             _tick(8, 40, 80, dt=0.2),                                  # the final flush at the stop
             _tick(0, 5, 90)]                                           # shutdown
    for i, t in enumerate(ticks):
        add_tick(stats, t, float(i))
    assert set(stats.levels) == {8}
    requests, seconds, hist = stats.levels[8]
    assert (requests, seconds) == (260, 2.0)
    assert abs(hist.get_value_at_percentile(50) / 1e3 - 60) < 0.1
    assert stats.total() == (545, 0)  # every tick still counts towards the run's totals


def test_steps_give_one_level_each_from_their_settled_intervals() -> None:
    stats = LoadStats()
    for i, t in enumerate([_tick(4, 40, 10), _tick(4, 40, 10), _tick(8, 60, 30), _tick(8, 70, 20)]):
        add_tick(stats, t, float(i))
    assert {u: lv[0] for u, lv in stats.levels.items()} == {4: 40, 8: 70}
