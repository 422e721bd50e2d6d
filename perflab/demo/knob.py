"""``PERFLAB_DEMO_SLOWDOWN=0.10`` makes every demo call do busy work worth 10 % of its own duration.

Any non-negative fraction works. The extra time is spent spinning on the CPU (not sleeping), like a real
code regression would, and is measured in the thread's CPU time so that it stays the same fraction of the
call's own work when the machine is loaded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
ENV = "PERFLAB_DEMO_SLOWDOWN"


def fraction() -> float:
    raw = os.environ.get(ENV, "")
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        return 0.0
    return max(value, 0.0)


def slowed(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``fn`` so it takes ``1 + PERFLAB_DEMO_SLOWDOWN`` times as long (read once, at import)."""
    f = fraction()
    if f <= 0:
        return fn

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # CPU time of this thread, not wall time: on a loaded machine a wall-clock spin overshoots by whole
        # scheduler time slices (measured: +0.5 became 7.9x at load 10); CPU time keeps the extra work at
        # exactly the fraction of the call's own work, so both slow down alike under contention.
        start = time.thread_time()
        result = fn(*args, **kwargs)
        end = time.thread_time()
        until = end + (end - start) * f
        while time.thread_time() < until:
            pass
        return result

    return wrapper
