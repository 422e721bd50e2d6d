"""memray's live-remote mode, read with ``memray.SocketReader`` in a thread: heap size and top allocators
while the target runs.

The target runs under ``memray run --live-remote --live-port P`` (memray binds 127.0.0.1 and waits for one
client before running the program, so nothing is missed). A thread connects, and every ``interval`` seconds
takes the current heap snapshot (memory allocated and not yet freed, by allocation site) and hands the
total and the largest sites to the event loop. memray writes no capture file in this mode, so the peak is the
largest heap seen at a snapshot (a lower bound of the true peak) and there are no flamegraphs.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Site = tuple[str, str, int]  # function, file, line


@dataclass
class LiveHeap:
    snapshots: int = 0
    peak: float = 0.0  # bytes: largest heap seen at a snapshot
    last: float = 0.0  # bytes: heap at the last snapshot
    top: list[tuple[Site, float, int]] = field(default_factory=list)  # at the peak: site, bytes, blocks
    error: str = ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _site(record: Any) -> Site:
    try:
        frames = record.stack_trace(max_stacks=1)
    except Exception:  # a record without a Python frame (native only)
        frames = []
    if not frames:
        return ("<unknown>", "", 0)
    func, file, line = frames[0]
    return (str(func), str(file), int(line))


class LiveReader:
    """Polls a memray live-remote session from a thread; ``on_snapshot(heap_bytes, top)`` runs on the loop."""

    def __init__(self, port: int, interval: float, top: int,
                 on_snapshot: Callable[[float, list[tuple[Site, float, int]]], None],
                 alive: Callable[[], bool]) -> None:
        self.port, self.interval, self.top_n = port, interval, top
        self.on_snapshot = on_snapshot
        self.alive = alive
        self.state = LiveHeap()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> LiveHeap:
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._run, loop)
        return self.state

    def _connect(self) -> Any:
        from memray import SocketReader  # heavy and optional: only when live mode is asked for

        deadline = time.monotonic() + 30.0
        while not self._stop.is_set() and self.alive() and time.monotonic() < deadline:
            try:
                reader = SocketReader(port=self.port)
                reader.__enter__()
                return reader
            except Exception as e:  # the target's interpreter has not opened the port yet
                self.state.error = str(e)
                time.sleep(0.05)
        return None

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        reader = self._connect()
        if reader is None:
            return
        try:
            while not self._stop.is_set():
                active = reader.is_active
                by_site: Counter[Site] = Counter()
                blocks: Counter[Site] = Counter()
                for rec in reader.get_current_snapshot(merge_threads=True):
                    site = _site(rec)
                    by_site[site] += rec.size
                    blocks[site] += rec.n_allocations
                heap = float(sum(by_site.values()))
                top = [(s, float(b), int(blocks[s])) for s, b in by_site.most_common(self.top_n)]
                st = self.state
                st.snapshots += 1
                st.last = heap
                if heap >= st.peak:
                    st.peak, st.top = heap, top
                loop.call_soon_threadsafe(self.on_snapshot, heap, top)
                if not active:
                    return
                self._stop.wait(self.interval)
        finally:
            reader.__exit__(None, None, None)
