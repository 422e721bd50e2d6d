"""``PERFLAB_DEMO_SLOWDOWN=0.10`` makes every demo call do busy work worth 10 % of its own duration.

Any non-negative fraction works. The extra time is spent spinning on the CPU (not sleeping), like a real
code regression would.
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
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        end = time.perf_counter()
        until = end + (end - start) * f
        while time.perf_counter() < until:
            pass
        return result

    return wrapper
