"""Leak harness, run inside the child: ``python -m perflab.runners.agents.leak_harness CONFIG_JSON``.

Calls the target ``warmup`` times, then ``iterations`` times; after each measured call (and a full garbage
collection, so only memory that is really retained counts) it sends ``iter`` records with tracemalloc's
current traced size and the process RSS, both in bytes. At the end it sends ``top`` with the allocation
sites that grew most between the snapshot after warm-up and the one after the last iteration.

A site is the line that made the allocation (tracemalloc's innermost frame). perflab's own files are never a
site: an allocation made on ``target_call``'s line is the target's C code called directly (a builtin or a C
extension function as the target), sent as the site ``(target)``; one made on another line of perflab's agents
is perflab's own bookkeeping, sent apart, flagged ``perflab``.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import tracemalloc
from typing import Any

from perflab.runners.agents import target_call, wire

OWN = os.path.dirname(os.path.abspath(__file__)) + os.sep  # perflab's agents: lines that are never a site
CALL_SITE = os.path.abspath(target_call.__file__)  # where the harness calls the target


def sites(diff: list[Any], top: int) -> list[dict[str, Any]]:
    """Growth by site (see the module docstring): the ``top`` largest, then perflab's own when it grew."""
    by_site: dict[tuple[str, int], dict[str, Any]] = {}
    for stat in diff:
        frame = stat.traceback[-1]  # the allocating line (tracemalloc lists frames oldest first)
        key, own = (frame.filename, frame.lineno), False
        if frame.filename == CALL_SITE:
            key = ("(target)", 0)
        elif frame.filename.startswith(OWN):
            key, own = ("(perflab)", 0), True
        site = by_site.setdefault(key, {"file": key[0], "line": key[1], "size": 0, "count": 0, "total": 0,
                                         "perflab": own})
        site["size"] += stat.size_diff
        site["count"] += stat.count_diff
        site["total"] += stat.size
    grown = sorted((s for s in by_site.values() if s["size"] > 0), key=lambda s: -s["size"])
    return [s for s in grown if not s["perflab"]][:top] + [s for s in grown if s["perflab"]]


def main(config: dict[str, Any]) -> int:
    ch = wire.channel()
    fn = target_call.build(config)
    warmup, iterations = int(config["warmup"]), int(config["iterations"])
    tracemalloc.start(int(config.get("frames", 1)))
    ch.send(wire.Phase(name="warmup", detail=f"{warmup} warm-up calls"))
    for _ in range(warmup):
        fn()
    gc.collect()
    # the harness's own bookkeeping must not look like growth: filter this module out of the diff
    ignore = [tracemalloc.Filter(False, __file__), tracemalloc.Filter(False, tracemalloc.__file__)]
    before = tracemalloc.take_snapshot().filter_traces(ignore)
    ch.send(wire.Phase(name="measure", detail=f"{iterations} measured calls"))
    for i in range(iterations):
        t = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t
        gc.collect()
        ch.send(wire.LeakIteration(i=i, traced=tracemalloc.get_traced_memory()[0], rss=target_call.rss_bytes(),
                                   s=elapsed))
    after = tracemalloc.take_snapshot().filter_traces(ignore)
    diff = after.compare_to(before, "lineno")
    ch.send(wire.LeakSites(sites=sites(diff, int(config.get("top", 10)))))
    tracemalloc.stop()
    ch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
