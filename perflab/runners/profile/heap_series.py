"""The memory runner's heap over time without memray's live mode: ``mem.heap`` read from the capture.

memray records the heap (bytes allocated and not yet freed) every ~10 ms in the capture it writes; the agent
agents/memray_heap.py, a child of its own, reads those snapshots while the target runs and sends one point per
0.1 s (the largest heap of each tenth of a second). Each becomes a ``mem.heap`` sample (bytes) stamped with the
time memray took it, so the live chart, the stored session and its replay draw the same heap curve; the points
arrive up to a read interval (1 s, longer for a large capture: the agent spends at most a tenth of a core)
after they were taken. :meth:`HeapSeries.finish` makes the agent read the whole capture one last time, so the
curve ends where the target ended (or was stopped).

Without memray importable in this interpreter (a ``memray`` executable of another Python) there is no reader:
no heap series, and the chart shows the target's RSS instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from perflab.core.model import Sample
from perflab.runners.agents import wire
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.process import Child

AGENT = "perflab.runners.agents.memray_heap"
FINISH_TIMEOUT = 120.0  # s the last read of a large capture may take
SERIES = "mem.heap"


class HeapSeries:
    """Starts the reader of one capture and turns its points into ``mem.heap`` samples."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.child: Child | None = None
        self.points = 0
        self.peak = 0.0  # B: the largest heap point sent

    async def start(self, capture: Path) -> HeapSeries:
        if importlib.util.find_spec("memray") is None:
            return self
        config = {"capture": str(capture), "t0": time.time() - self.ctx.now(), "bucket": 0.1, "interval": 1.0,
                  "budget": 0.1}
        self.child = await self.ctx.spawn([sys.executable, "-m", AGENT, json.dumps(config)], source="memray-heap",
                                          role="tool", monitor=False, on_record=self.on_record)
        return self

    def on_record(self, record: dict[str, Any]) -> None:
        msg = wire.parse(record, wire.HEAP)
        if isinstance(msg, wire.HeapPoint):
            self.points += 1
            self.peak = max(self.peak, float(msg.heap))
            self.ctx.emit(Sample(float(msg.t), SERIES, float(msg.heap)))

    async def finish(self) -> None:
        """The last read (the capture is complete: the target has exited), then the reader exits."""
        child = self.child
        if child is None or child.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGINT)
        with contextlib.suppress(TimeoutError):  # wait() stops the tree on timeout
            await asyncio.shield(child.wait(timeout=FINISH_TIMEOUT))
