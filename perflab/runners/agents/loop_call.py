"""Run a callable in a loop inside the child: ``python -m perflab.runners.agents.loop_call CONFIG_JSON``.

Stops after ``duration`` seconds or ``iterations`` calls, whichever comes first (either may be absent, not
both). Every ``report`` seconds it sends ``progress`` (calls so far, seconds elapsed); at the end ``done``
with the totals, so the parent knows the throughput the target reached (calls per second) while profiled.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from perflab.runners.agents import target_call, wire


def main(config: dict[str, Any], around: Callable[[], AbstractContextManager[Any]] = nullcontext) -> int:
    """``around``: a context entered just before the target is imported and left after the loop (memray_loop
    tracks allocations inside it only, so perflab's own imports are not counted as the target's)."""
    ch = wire.channel()
    with around():
        return _loop(config, ch)


def _loop(config: dict[str, Any], ch: wire.Channel) -> int:
    fn = target_call.build(config)
    duration = config.get("duration")
    limit = config.get("iterations")
    report = float(config.get("report", 0.5))
    start = time.perf_counter()
    end = start + float(duration) if duration else float("inf")
    next_report = start + report
    n = 0
    try:
        while (limit is None or n < limit) and time.perf_counter() < end:
            fn()
            n += 1
            now = time.perf_counter()
            if now >= next_report:
                ch.send(wire.LoopProgress(n=n, elapsed=now - start))
                next_report = now + report
    except KeyboardInterrupt:  # stopped by the parent: still say how far we got
        ch.send(wire.LoopDone(n=n, elapsed=time.perf_counter() - start, interrupted=True))
        ch.close()
        return 130
    ch.send(wire.LoopDone(n=n, elapsed=time.perf_counter() - start, interrupted=False))
    ch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
