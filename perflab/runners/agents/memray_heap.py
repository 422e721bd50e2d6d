"""The heap over time from a memray capture while it is written: ``python -m perflab.runners.agents.memray_heap
CONFIG``.

memray records the tracked process's heap (bytes allocated and not yet freed) and RSS in its capture every
~10 ms. This agent, a process of its own (so reading never takes the parent's CPU or GIL), reads those memory
snapshots every ``interval`` s and sends the ones it has not sent yet on the side channel, one ``heap`` record
per ``bucket`` s: the largest heap of the bucket at its own time, so the peak is never averaged away. The
bucket still being filled waits for the next read. A read costs time in proportion to the capture (memray
parses every record), so the agent waits at least ``cost / budget`` between reads: it uses at most
``budget`` of one core however long the run.

SIGINT or SIGTERM (the parent, once the target ended or the run was stopped): one last read of the whole
capture, the remaining buckets sent, exit 0. Reads while memray is writing may meet a half-written record;
memray's complaint about it (on fd 2) is silenced for those reads only, never for the last one.

CONFIG (JSON): ``capture`` (path), ``t0`` (the session's start, wall-clock seconds since the epoch),
``bucket`` (s, default 0.1), ``interval`` (s, default 1.0), ``budget`` (ratio of a core, default 0.2).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from perflab.runners.agents import wire

MAX_RECORDS = 10_000_000  # memray thins the snapshots out above its default 10,000 (100 s): keep them all


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def read(capture: str, quiet: bool) -> list[tuple[float, float]]:
    """(wall-clock s, heap B) of every memory snapshot in the capture so far; [] when it cannot be read yet."""
    import memray  # the tool this agent reads

    if not os.path.exists(capture) or os.path.getsize(capture) == 0:
        return []
    with _quiet_fd2() if quiet else contextlib.nullcontext():
        try:
            reader = memray.FileReader(capture, report_progress=False, max_memory_records=MAX_RECORDS)
            try:
                return [(s.time / 1000.0, float(s.heap)) for s in reader.get_memory_snapshots()]
            finally:
                reader.close()
        except Exception:  # a header not yet written, a record cut in half: the next read sees more
            return []


def buckets(snapshots: list[tuple[float, float]], t0: float, width: float, after: int, final: bool
            ) -> tuple[list[tuple[float, float]], int]:
    """The (t since t0, heap) of the largest snapshot of each bucket with index > ``after``; the last bucket
    only when ``final``. Returns them and the index of the last bucket returned (``after`` when none)."""
    best: dict[int, tuple[float, float]] = {}
    for wall, heap in snapshots:
        t = wall - t0
        i = math.floor(t / width)
        if i > after and (i not in best or heap > best[i][1]):
            best[i] = (t, heap)
    if not best:
        return [], after
    last = max(best)
    keep = sorted(i for i in best if final or i < last)
    return [best[i] for i in keep], (keep[-1] if keep else after)


def main(config: dict[str, Any]) -> int:
    ch = wire.channel()
    capture, t0 = str(config["capture"]), float(config["t0"])
    width = float(config.get("bucket", 0.1))
    interval = float(config.get("interval", 1.0))
    budget = float(config.get("budget", 0.2))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sent = -(2**62)  # index of the last bucket sent
    while not stop.is_set():
        started = time.monotonic()
        points, sent = buckets(read(capture, quiet=True), t0, width, sent, final=False)
        for t, heap in points:
            ch.send(wire.HeapPoint(t=t, heap=heap))
        cost = time.monotonic() - started
        stop.wait(max(interval - cost, cost / budget - cost))
    points, sent = buckets(read(capture, quiet=False), t0, width, sent, final=True)
    for t, heap in points:
        ch.send(wire.HeapPoint(t=t, heap=heap))
    ch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
