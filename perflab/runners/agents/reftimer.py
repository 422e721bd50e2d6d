"""A pytest-benchmark timer that measures a fixed reference loop next to every round (``calibrate = true``).

pytest-benchmark times a round as ``start = timer(); loops; end = timer()``. This timer runs a short
pure-Python reference loop inside each call, records how long it took, and returns a *virtual* clock that
excludes that time, so the rounds' durations are the target's alone. The two references around a round (the
ones in its start and end calls) were measured within a millisecond of it, on the same core at the same
machine speed, so ``round / reference`` cancels the speed drift of a shared VM (in the A/A experiment on a
2-vCPU VM the CV of the process medians fell from 10.6 % in seconds to 2.2 % relative; docs: methodology).

``take(n)`` returns, for the last ``n`` rounds, the mean of the two references around each; pytest-benchmark
runs the recorded rounds last, so they are the last ``2 n`` timer calls. It imports nothing of perflab's.
"""

from __future__ import annotations

import time

LOOPS = 1000  # about 50 µs of pure-Python work on a laptop core
_offset = 0.0
_refs: list[float] = []


def _reference() -> int:
    s = 0
    for i in range(LOOPS):
        s += i * i % 7
    return s


def timer() -> float:
    global _offset
    a = time.perf_counter()
    _reference()
    b = time.perf_counter()
    _refs.append(b - a)
    _offset += time.perf_counter() - a  # everything since ``a``, including this bookkeeping
    return time.perf_counter() - _offset


def reset() -> None:
    _refs.clear()


def take(n: int) -> list[float] | None:
    """Seconds of reference around each of the last ``n`` rounds, or None when there are too few calls."""
    if n <= 0 or len(_refs) < 2 * n:
        return None
    tail = _refs[-2 * n:]
    return [(tail[2 * i] + tail[2 * i + 1]) / 2 for i in range(n)]
