"""PERFLAB_DEMO_SLOWDOWN=0.10 really makes a demo call 10 % slower.

The plain and the slowed function are timed interleaved, call by call, in this one process so machine drift
hits both alike; the ratios of medians (CPU time and wall time) are printed; the CPU-time ratio is checked against loose bounds.
With --benchmark-disable (the CI smoke run) fewer calls are made, still enough for a stable median.
"""

from __future__ import annotations

import statistics
import time

import pytest

from perflab.demo import knob, sorting


def _ratios(pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch, fraction: float) -> tuple[float, float]:
    """(CPU-time ratio, wall-time ratio) of medians, slowed / plain, over interleaved calls."""
    monkeypatch.setenv(knob.ENV, str(fraction))
    plain = getattr(sorting.counting_sort, "__wrapped__", sorting.counting_sort)
    slow = knob.slowed(plain)
    data = sorting.random_ints(2000)
    calls = 101 if pytestconfig.getoption("benchmark_disable", False) else 301  # each call is about a millisecond
    cpu_a, cpu_b, wall_a, wall_b = [], [], [], []
    for _ in range(calls):
        w0, c0 = time.perf_counter(), time.thread_time()
        plain(data)
        w1, c1 = time.perf_counter(), time.thread_time()
        slow(data)
        w2, c2 = time.perf_counter(), time.thread_time()
        cpu_a.append(c1 - c0)
        cpu_b.append(c2 - c1)
        wall_a.append(w1 - w0)
        wall_b.append(w2 - w1)
    cpu = statistics.median(cpu_b) / statistics.median(cpu_a)
    wall = statistics.median(wall_b) / statistics.median(wall_a)
    print(f"PERFLAB_DEMO_SLOWDOWN={fraction}: slowed/plain medians over {calls} interleaved calls: "
          f"CPU time {cpu:.3f}, wall time {wall:.3f}")
    return cpu, wall


@pytest.mark.parametrize("fraction", [0.10, 0.50])
def test_knob_adds_the_fraction(pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch,
                                fraction: float) -> None:
    cpu, _wall = _ratios(pytestconfig, monkeypatch, fraction)
    # CPU time is what the knob controls; wall time is printed (on a loaded 2-core machine it drifts).
    assert 1 + fraction * 0.5 < cpu < 1 + fraction * 2
