"""Leak harness, run inside the child: ``python -m perflab.runners.agents.leak_harness CONFIG_JSON``.

Calls the target ``warmup`` times, then ``iterations`` times; after each measured call (and a full garbage
collection, so only memory that is really retained counts) it sends ``iter`` records with tracemalloc's
current traced size and the process RSS, both in bytes. At the end it sends ``top`` with the allocation
sites that grew most between the snapshot after warm-up and the one after the last iteration.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from typing import Any

from perflab.runners.agents import target_call, wire


def _site(stat: Any) -> dict[str, Any]:
    frame = stat.traceback[0]
    return {"file": frame.filename, "line": frame.lineno, "size": stat.size_diff, "count": stat.count_diff,
            "total": stat.size}


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
    diff = [s for s in after.compare_to(before, "lineno") if s.size_diff > 0][: int(config.get("top", 10))]
    ch.send(wire.LeakSites(sites=[_site(s) for s in diff]))
    tracemalloc.stop()
    ch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
