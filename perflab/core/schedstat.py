"""Run-queue delay of a process tree from ``/proc/PID/task/TID/schedstat``, and the window CPU time is divided by.

``schedstat`` holds three counters per thread: nanoseconds on a CPU, nanoseconds **runnable but waiting for a
CPU** (run-queue delay) and the number of time slices. Run-queue delay is what tells a starved process (it wanted a
core and did not get one: the machine is oversubscribed) from one that waits on I/O, locks or the network (it
sleeps and is not runnable, so that wait never shows here).

:class:`RunQueue` keeps the totals of one monitored tree (the process monitor calls it for each process about
once a second, ``monitor.SCHED_EVERY``, and once more when it closes):

- the counters of every thread are read through descriptors opened when the thread was first seen (a kept
  descriptor names that thread for good, so a reused pid or tid is never mistaken for it); a single-threaded
  process costs one ``pread`` per tick, threads are listed again only when the thread count changes;
- totals are sums of increments since a thread was first seen: a process's threads present at its first read
  start from that read, threads that appear later count from their start; a thread that ends keeps what it had
  at the last read (up to the time between two reads of its life is lost);
- on a kernel without schedstat (not Linux, or no ``CONFIG_SCHED_INFO``) the totals stay 0 and
  :attr:`RunQueue.available` is False.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

NS = 1e-9


def read(path: str) -> tuple[int, int] | None:
    """(ns on a CPU, ns waiting in the run queue) from one schedstat file, or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return _parse(f.read())
    except OSError:
        return None


def _parse(data: bytes) -> tuple[int, int] | None:
    fields = data.split()
    try:
        return int(fields[0]), int(fields[1])
    except (ValueError, IndexError):
        return None


class _Task:
    __slots__ = ("fd", "run", "wait")

    def __init__(self, fd: int, run: int, wait: int) -> None:
        self.fd, self.run, self.wait = fd, run, wait


class RunQueue:
    """Run time and run-queue delay (seconds) summed over the threads of a process tree."""

    def __init__(self) -> None:
        self.run = 0.0  # s on a CPU
        self.wait = 0.0  # s runnable, waiting for a CPU
        self.available = False
        self._tasks: dict[int, dict[int, _Task]] = {}  # pid -> tid -> kept descriptor and last counters

    def sample(self, pid: int, threads: int) -> None:
        """Add the increments of ``pid``'s threads since the last call (``threads``: its thread count now)."""
        tasks = self._tasks.get(pid)
        first = tasks is None
        if tasks is None:
            tasks = self._tasks[pid] = {}
        if first or len(tasks) != threads:
            self._discover(pid, tasks, first)
        for tid, t in list(tasks.items()):
            try:
                now = _parse(os.pread(t.fd, 128, 0))
            except OSError:
                now = None
            if now is None:  # the thread ended
                os.close(t.fd)
                del tasks[tid]
                continue
            self.run += (now[0] - t.run) * NS
            self.wait += (now[1] - t.wait) * NS
            t.run, t.wait = now
            self.available = True

    def _discover(self, pid: int, tasks: dict[int, _Task], first: bool) -> None:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except (OSError, ValueError):
            return
        for tid in tids:
            if tid in tasks:
                continue
            try:
                fd = os.open(f"/proc/{pid}/task/{tid}/schedstat", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                now = _parse(os.pread(fd, 128, 0))
            except OSError:
                now = None
            if now is None:
                os.close(fd)
                continue
            # a thread born after the process was first read lived all its life inside the window
            tasks[tid] = _Task(fd, *now) if first else _Task(fd, 0, 0)

    def forget(self, pid: int) -> None:
        """``pid`` ended: close its descriptors (its totals stay)."""
        for t in self._tasks.pop(pid, {}).values():
            with contextlib.suppress(OSError):
                os.close(t.fd)

    def close(self) -> None:
        for pid in list(self._tasks):
            self.forget(pid)


def covered(spans: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by the union of ``(start, end)`` spans: the window over which the CPU time of several
    processes of one role was measured (processes one after another add up; processes side by side do not)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total
