"""psutil sampler of the watched process trees -> Sample events.

Series (labels: ``role`` = target, server, generator, ...):
``proc.cpu`` (ratio of one core, summed over the tree), ``proc.rss`` (bytes), ``proc.threads``, ``proc.fds``,
``proc.procs`` (processes in the tree), ``proc.io.read`` / ``proc.io.write`` (bytes/s),
``proc.ctx_switches`` (switches/s).

Cost matters (the budget is 0.5 % of one core at 10 Hz): each tick reads each known process once inside
``oneshot()`` (on Linux: re-reads /proc files it keeps open, see ``_Proc``); the tree itself (which means
scanning every /proc/PID/stat) is re-discovered only every ``rediscover`` seconds (2 s), and
``memory_full_info`` is never called. Measured in tests/performance/test_foundation_perf.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from perflab.core.model import Event, Sample, labels
from perflab.core.schedstat import RunQueue, covered


def ppid_map() -> dict[int, int]:
    """pid -> parent pid of every process, read straight from /proc on Linux.

    About four times cheaper than ``psutil.Process.children(recursive=True)`` (which builds the same map
    through psutil's per-process machinery); this scan is most of the monitor's cost.
    """
    if not sys.platform.startswith("linux"):
        return {p.pid: p.ppid() for p in psutil.process_iter(["ppid"])}
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/stat", os.O_RDONLY)
            try:
                data = os.read(fd, 1024)
            finally:
                os.close(fd)
            # "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ")"
            out[int(name)] = int(data[data.rfind(b")") + 2:].split(b" ", 2)[1])
        except (OSError, ValueError, IndexError):
            continue
    return out


def descendants(root: int, ppids: dict[int, int] | None = None) -> list[int]:
    """Every descendant pid of ``root`` (not root itself), breadth first."""
    ppids = ppid_map() if ppids is None else ppids
    kids: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        kids.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = [root]
    while todo:
        for child in kids.get(todo.pop(), ()):
            if child not in out:
                out.append(child)
                todo.append(child)
    return out


_LINUX = sys.platform.startswith("linux")
_PAGE = os.sysconf("SC_PAGE_SIZE") if _LINUX else 4096
_TICK = os.sysconf("SC_CLK_TCK") if _LINUX else 100
_PF_EXITING = 0x4  # /proc/PID/stat flags: the process is exiting


class _Gone(Exception):
    """The process ended (or can no longer be read)."""


@dataclass
class _Proc:
    proc: psutil.Process
    cpu: float = 0.0  # last user+system seconds
    read: int = 0
    write: int = 0
    ctx: int = 0
    # Linux fast path: /proc files kept open and re-read with pread (one syscall each per tick instead of
    # open+read+close through psutil's wrappers; psutil alone cost more than the whole 0.5 % budget here).
    # A kept descriptor keeps naming the original process, so a reused pid can never be misread.
    fd_stat: int = -1
    fd_status: int = -1
    fd_io: int = -1

    def open_fast(self) -> None:
        if not _LINUX:
            return
        base = f"/proc/{self.proc.pid}/"
        try:
            self.fd_stat = os.open(base + "stat", os.O_RDONLY | os.O_CLOEXEC)
            self.fd_status = os.open(base + "status", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self.close()
            return
        with contextlib.suppress(OSError):  # /proc/PID/io needs ptrace rights; optional
            self.fd_io = os.open(base + "io", os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        for name in ("fd_stat", "fd_status", "fd_io"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def counters(self) -> tuple[float, int, int, int, int | None, int | None, int]:
        """(cpu seconds, rss bytes, threads, fds, read bytes, write bytes, context switches); raises _Gone."""
        if self.fd_stat >= 0:
            return self._read_fast()
        try:
            with self.proc.oneshot():
                ct = self.proc.cpu_times()
                rss = self.proc.memory_info().rss
                threads = self.proc.num_threads()
                fds = self.proc.num_fds()
                try:
                    io = self.proc.io_counters()
                    rb, wb = io.read_bytes, io.write_bytes
                except (psutil.AccessDenied, AttributeError):
                    rb = wb = None
                cs = self.proc.num_ctx_switches()
        except psutil.Error:
            raise _Gone from None
        return ct.user + ct.system, rss, threads, fds, rb, wb, cs.voluntary + cs.involuntary

    def _read_fast(self) -> tuple[float, int, int, int, int | None, int | None, int]:
        pid = self.proc.pid
        try:
            stat = os.pread(self.fd_stat, 2048, 0)
            status = os.pread(self.fd_status, 4096, 0)
            io = os.pread(self.fd_io, 1024, 0) if self.fd_io >= 0 else b""
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:  # ESRCH once the process is gone
            raise _Gone from None
        if not stat:
            raise _Gone
        try:
            # fields after "pid (comm) ": state=0 ... utime=11 stime=12 ... num_threads=17 ... rss=21 (pages)
            f = stat[stat.rfind(b")") + 2:].split()
            cpu = (int(f[11]) + int(f[12])) / _TICK
            threads, rss = int(f[17]), int(f[21]) * _PAGE
            if int(f[6]) & _PF_EXITING:  # tearing its memory down: RSS reads a part of it, or 0
                rss = 0
            i = status.find(b"\nvoluntary_ctxt_switches:")
            cs = status[i:].split()
            ctx = int(cs[1]) + int(cs[3]) if i >= 0 else 0
            rb = wb = None
            if io:
                fields = dict(line.split(b": ") for line in io.splitlines() if b": " in line)
                rb, wb = int(fields[b"read_bytes"]), int(fields[b"write_bytes"])
        except (ValueError, IndexError, KeyError):
            raise _Gone from None
        return cpu, rss, threads, fds, rb, wb, ctx


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
    sched: RunQueue = field(default_factory=RunQueue)  # run-queue delay: CPU starvation, apart from I/O waits


class ProcessMonitor:
    def __init__(self, emit: Callable[[Event], None], *, hz: float = 10.0,
                 clock: Callable[[], float] | None = None, rediscover: float = 2.0) -> None:
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
        p.open_fast()
        with contextlib.suppress(_Gone):
            p.cpu, _, _, _, rb, wb, p.ctx = p.counters()
            p.read, p.write = rb or 0, wb or 0
        return p

    def _discover(self, tree: _Tree, ppids: dict[int, int]) -> None:
        # Once the root is gone its pid may be reused by an unrelated process: never adopt that one's tree.
        if tree.root not in tree.procs or tree.root not in ppids:
            return
        for pid in descendants(tree.root, ppids):
            if pid not in tree.procs:
                with contextlib.suppress(psutil.Error):
                    tree.procs[pid] = self._prime(psutil.Process(pid))

    def sample_once(self) -> None:
        now_m = time.monotonic()
        discover = now_m - self._last_discover >= self.rediscover
        if discover:
            self._last_discover = now_m
        t = self.clock()
        ppids = ppid_map() if discover and self.trees else {}
        for tree in self.trees.values():
            if discover:
                self._discover(tree, ppids)
            dt = max(now_m - tree.last, 1e-6)
            tree.last = now_m
            cpu = rss = threads = fds = d_read = d_write = d_ctx = 0.0
            alive = 0
            for pid, p in list(tree.procs.items()):
                try:
                    c, r, n_threads, n_fds, rb, wb, n_ctx = p.counters()
                except _Gone:
                    p.close()
                    del tree.procs[pid]
                    tree.sched.forget(pid)
                    continue
                tree.sched.sample(pid, n_threads)
                rss += r
                threads += n_threads
                fds += n_fds
                if rb is not None and wb is not None:
                    d_read += rb - p.read
                    d_write += wb - p.write
                    p.read, p.write = rb, wb
                d_ctx += n_ctx - p.ctx
                p.ctx = n_ctx
                cpu += c - p.cpu
                p.cpu = c
                alive += 1
            if not alive:
                continue
            tree.ticks += 1
            tree.ended = t
            tree.cpu_time += cpu
            tree.read_bytes += int(d_read)
            tree.write_bytes += int(d_write)
            tree.ctx_switches += int(d_ctx)
            tree.peak_rss = max(tree.peak_rss, int(rss))
            if rss > 0:  # an exiting process is releasing its memory (read as 0): not a valid sample
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
        try:
            while True:
                next_t += self.period
                now = time.monotonic()
                if next_t < now - self.period:  # the loop was blocked: skip missed ticks, don't burst
                    next_t = now + self.period
                await asyncio.sleep(max(0.0, next_t - now))
                if self.trees:
                    self.sample_once()
        finally:
            self.close()

    def close(self) -> None:
        """Release the kept /proc descriptors (the engine calls this when the run ends)."""
        for tree in self.trees.values():
            for p in tree.procs.values():
                p.close()
            tree.sched.close()

    def summary(self) -> dict[str, dict[str, float]]:
        """Totals per role: cpu_time (s), wall (s), read/write bytes, ctx switches, peak/first/last RSS, and from
        schedstat run_time and run_delay (s on a CPU, s runnable but waiting for one; absent without schedstat).

        ``wall`` is the time covered by the role's trees together (core.schedstat.covered), the same window
        their CPU time was measured over: trees one after another add up, trees side by side do not.
        """
        out: dict[str, dict[str, float]] = {}
        spans: dict[str, list[tuple[float, float]]] = {}
        for tree in self.trees.values():
            entry = out.setdefault(tree.role, {"cpu_time": 0.0, "wall": 0.0, "read_bytes": 0.0,
                                               "write_bytes": 0.0, "ctx_switches": 0.0, "peak_rss": 0.0,
                                               "first_rss": 0.0, "last_rss": 0.0, "ticks": 0.0})
            entry["cpu_time"] += tree.cpu_time
            spans.setdefault(tree.role, []).append((tree.started, tree.ended))
            entry["wall"] = covered(spans[tree.role])
            if tree.sched.available:
                entry["run_time"] = entry.get("run_time", 0.0) + tree.sched.run
                entry["run_delay"] = entry.get("run_delay", 0.0) + tree.sched.wait
            entry["read_bytes"] += tree.read_bytes
            entry["write_bytes"] += tree.write_bytes
            entry["ctx_switches"] += tree.ctx_switches
            entry["peak_rss"] = max(entry["peak_rss"], tree.peak_rss)
            entry["first_rss"] = entry["first_rss"] or float(tree.first_rss or 0)
            entry["last_rss"] = float(tree.last_rss)
            entry["ticks"] += tree.ticks
        return out
