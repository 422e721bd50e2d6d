"""PERFLAB_DEMO_SLOWDOWN=0.10 really makes a demo call 10 % slower.

The plain and the slowed function are timed in pairs of adjacent calls, in this one process, so machine drift
hits both calls of a pair alike; the median of the pairs' ratios (CPU time and wall time) is printed, and the
CPU-time one is checked against loose bounds.
With --benchmark-disable (the CI smoke run) fewer calls are made, still enough for a stable median.
"""

from __future__ import annotations

import statistics
import time

import pytest

from perflab.demo import knob, sorting


def _ratios(pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch, fraction: float) -> tuple[float, float]:
    """(CPU-time ratio, wall-time ratio), slowed / plain: the median over pairs of adjacent calls of each pair's ratio.

    A pair's two calls run back to back, in alternating order, so a change of the machine's speed between pairs
    (another job taking a core, a frequency step) hits both calls of a pair alike and cancels in its ratio; a
    ratio of medians taken over the whole run does not cancel it.
    """
    monkeypatch.setenv(knob.ENV, str(fraction))
    plain = getattr(sorting.counting_sort, "__wrapped__", sorting.counting_sort)
    slow = knob.slowed(plain)
    data = sorting.random_ints(2000)
    calls = 101 if pytestconfig.getoption("benchmark_disable", False) else 301  # each call is about a millisecond
    cpu, wall = [], []
    for i in range(calls):
        timed: dict[str, tuple[float, float]] = {}
        for name, fn in ((("plain", plain), ("slow", slow)) if i % 2 else (("slow", slow), ("plain", plain))):
            w0, c0 = time.perf_counter(), time.thread_time()
            fn(data)
            timed[name] = (time.thread_time() - c0, time.perf_counter() - w0)
        cpu.append(timed["slow"][0] / timed["plain"][0])
        wall.append(timed["slow"][1] / timed["plain"][1])
    cpu_ratio, wall_ratio = statistics.median(cpu), statistics.median(wall)
    print(f"PERFLAB_DEMO_SLOWDOWN={fraction}: slowed/plain, median of {calls} paired ratios: "
          f"CPU time {cpu_ratio:.3f}, wall time {wall_ratio:.3f}")
    return cpu_ratio, wall_ratio


@pytest.mark.parametrize("fraction", [0.10, 0.50])
def test_knob_adds_the_fraction(pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch,
                                fraction: float) -> None:
    cpu, _wall = _ratios(pytestconfig, monkeypatch, fraction)
    # CPU time is what the knob controls; wall time is printed (on a loaded 2-core machine it drifts).
    assert 1 + fraction * 0.5 < cpu < 1 + fraction * 2
