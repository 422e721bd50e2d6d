"""psutil sampler of the watched process trees -> Sample events.

Series (labels: ``role`` = target, server, generator, ...):
``proc.cpu`` (ratio of one core, summed over the tree), ``proc.rss`` (bytes), ``proc.threads``, ``proc.fds``,
``proc.procs`` (processes in the tree), ``proc.io.read`` / ``proc.io.write`` (bytes/s),
``proc.ctx_switches`` (switches/s).

Cost matters (the budget is 0.5 % of one core at 10 Hz): each tick reads each known process once inside
``oneshot()``; the tree itself (which means scanning /proc) is re-discovered only once a second, and
``memory_full_info`` is never called.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from perflab.core.model import Event, Sample, labels


@dataclass
class _Proc:
    proc: psutil.Process
    cpu: float = 0.0  # last user+system seconds
    read: int = 0
    write: int = 0
    ctx: int = 0


@dataclass
class _Tree:
    root: int
    role: str
    procs: dict[int, _Proc] = field(default_factory=dict)
    last: float = 0.0
    # totals for the run summary
    cpu_time: float = 0.0
    read_bytes: int = 0
    write_bytes: int = 0
    ctx_switches: int = 0
    peak_rss: int = 0
    first_rss: int | None = None
    last_rss: int = 0
    started: float = 0.0
    ended: float = 0.0
    ticks: int = 0


class ProcessMonitor:
    def __init__(self, emit: Callable[[Event], None], *, hz: float = 10.0,
                 clock: Callable[[], float] | None = None, rediscover: float = 1.0) -> None:
        self.emit = emit
        self.period = 1.0 / hz
        t0 = time.monotonic()
        self.clock = clock or (lambda: time.monotonic() - t0)
        self.rediscover = rediscover
        self.trees: dict[int, _Tree] = {}
        self._last_discover = 0.0

    def watch(self, pid: int, role: str = "target") -> None:
        if pid in self.trees:
            return
        tree = _Tree(pid, role, started=self.clock())
        with contextlib.suppress(psutil.Error):
            tree.procs[pid] = self._prime(psutil.Process(pid))
        tree.last = time.monotonic()
        self.trees[pid] = tree

    @staticmethod
    def _prime(proc: psutil.Process) -> _Proc:
        p = _Proc(proc)
        with contextlib.suppress(psutil.Error), proc.oneshot():
            ct = proc.cpu_times()
            p.cpu = ct.user + ct.system
            io = proc.io_counters()
            p.read, p.write = io.read_bytes, io.write_bytes
            cs = proc.num_ctx_switches()
            p.ctx = cs.voluntary + cs.involuntary
        return p

    def _discover(self, tree: _Tree) -> None:
        try:
            root = tree.procs[tree.root].proc if tree.root in tree.procs else psutil.Process(tree.root)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in members:
            if proc.pid not in tree.procs:
                tree.procs[proc.pid] = self._prime(proc)

    def sample_once(self) -> None:
        now_m = time.monotonic()
        discover = now_m - self._last_discover >= self.rediscover
        if discover:
            self._last_discover = now_m
        t = self.clock()
        for tree in self.trees.values():
            if discover:
                self._discover(tree)
            dt = max(now_m - tree.last, 1e-6)
            tree.last = now_m
            cpu = rss = threads = fds = d_read = d_write = d_ctx = 0.0
            alive = 0
            for pid, p in list(tree.procs.items()):
                try:
                    with p.proc.oneshot():
                        ct = p.proc.cpu_times()
                        c = ct.user + ct.system
                        rss += p.proc.memory_info().rss
                        threads += p.proc.num_threads()
                        fds += p.proc.num_fds()
                        try:
                            io = p.proc.io_counters()
                            d_read += io.read_bytes - p.read
                            d_write += io.write_bytes - p.write
                            p.read, p.write = io.read_bytes, io.write_bytes
                        except (psutil.AccessDenied, AttributeError):
                            pass
                        cs = p.proc.num_ctx_switches()
                        n_ctx = cs.voluntary + cs.involuntary
                        d_ctx += n_ctx - p.ctx
                        p.ctx = n_ctx
                    cpu += c - p.cpu
                    p.cpu = c
                    alive += 1
                except psutil.Error:
                    del tree.procs[pid]
            if not alive:
                continue
            tree.ticks += 1
            tree.ended = t
            tree.cpu_time += cpu
            tree.read_bytes += int(d_read)
            tree.write_bytes += int(d_write)
            tree.ctx_switches += int(d_ctx)
            tree.peak_rss = max(tree.peak_rss, int(rss))
            tree.last_rss = int(rss)
            if tree.first_rss is None:
                tree.first_rss = int(rss)
            lb = labels(role=tree.role)
            emit = self.emit
            emit(Sample(t, "proc.cpu", cpu / dt, lb))
            emit(Sample(t, "proc.rss", rss, lb))
            emit(Sample(t, "proc.threads", threads, lb))
            emit(Sample(t, "proc.fds", fds, lb))
            emit(Sample(t, "proc.procs", alive, lb))
            emit(Sample(t, "proc.io.read", d_read / dt, lb))
            emit(Sample(t, "proc.io.write", d_write / dt, lb))
            emit(Sample(t, "proc.ctx_switches", d_ctx / dt, lb))

    async def run(self) -> None:
        """Sample every period until cancelled (the first sample comes one period after start)."""
        next_t = time.monotonic()
        while True:
            next_t += self.period
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))
            if self.trees:
                self.sample_once()

    def summary(self) -> dict[str, dict[str, float]]:
        """Totals per role: cpu_time (s), wall (s), read/write bytes, ctx switches, peak/first/last RSS."""
        out: dict[str, dict[str, float]] = {}
        for tree in self.trees.values():
            wall = max(tree.ended - tree.started, 0.0)
            entry = out.setdefault(tree.role, {"cpu_time": 0.0, "wall": 0.0, "read_bytes": 0.0,
                                               "write_bytes": 0.0, "ctx_switches": 0.0, "peak_rss": 0.0,
                                               "first_rss": 0.0, "last_rss": 0.0, "ticks": 0.0})
            entry["cpu_time"] += tree.cpu_time
            entry["wall"] = max(entry["wall"], wall)
            entry["read_bytes"] += tree.read_bytes
            entry["write_bytes"] += tree.write_bytes
            entry["ctx_switches"] += tree.ctx_switches
            entry["peak_rss"] = max(entry["peak_rss"], tree.peak_rss)
            entry["first_rss"] = entry["first_rss"] or float(tree.first_rss or 0)
            entry["last_rss"] = float(tree.last_rss)
            entry["ticks"] += tree.ticks
        return out
