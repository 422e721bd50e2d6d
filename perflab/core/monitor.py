"""Sampler of the watched process trees (/proc on Linux, psutil elsewhere) -> Sample events.

Series (labels: ``role`` = target, server, generator, ...):
``proc.cpu`` (ratio of one core, summed over the tree), ``proc.rss`` (bytes), ``proc.threads``, ``proc.fds``,
``proc.procs`` (processes in the tree), ``proc.io.read`` / ``proc.io.write`` (bytes/s),
``proc.ctx_switches`` (switches/s).

What a tree holds (the invariants):

- the root given to :meth:`ProcessMonitor.watch`, and every process whose parent is in the tree when the tree is
  walked; a walk follows the children of every thread (``/proc/PID/task/TID/children``), of every process in
  the tree, not only the root's line, so a process stays and keeps being followed after its parent ends;
- a process stays in the tree until it ends, and is read through descriptors opened when it was found, so a
  reused pid (of a root or of any member) is never mistaken for the process that had it;
- an orphan re-parented to this process (perflab is a child subreaper) joins the tree it came from when that can
  be told: its session or process group is led by a process that was in the tree, or it inherited the root's
  supervisor token (``SUPERVISOR_TOKEN_ENV``). A daemon that called setsid, forked again and wiped its
  environment, all between two walks, cannot be told apart from perflab's own children and is not counted;
- a process that starts and ends between two walks is not seen.

Cost (the budget is 0.5 % of one core at 10 Hz, whatever else runs on the machine): a tick is one timer callback
(:meth:`ProcessMonitor.run`) that reads each member through descriptors it keeps open (``_Proc``) and the last
pid the kernel handed out (``/proc/loadavg``, one ``pread``). The trees are walked only when that pid changed (a
process or thread was created since the last walk) or ``rediscover`` seconds passed, and a walk reads only the
members' children lists (core/proctree.py): its cost follows the trees, never the number of processes on the
machine. Only where the kernel keeps no children lists is the parent of every process read instead, every
``rediscover`` seconds. ``memory_full_info`` is never called. Measured in tests/performance/test_monitor_perf.py.
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

from perflab.core.model import Event, Labels, Sample, labels
from perflab.core.proctree import (  # descendants: runners/framework/process.py imports it from here
    children_files,
    descendants,  # noqa: F401
    ppid_map,
    proc_stat,
    read_all,
    task_children,
    token_entry,
)
from perflab.core.schedstat import RunQueue, covered

_LINUX = sys.platform.startswith("linux")
_PAGE = os.sysconf("SC_PAGE_SIZE") if _LINUX else 4096
_TICK = os.sysconf("SC_CLK_TCK") if _LINUX else 100
_PF_EXITING = 0x4  # /proc/PID/stat flags: the process is exiting
SCHED_EVERY = 1.0  # s between reads of the run-queue counters (cumulative: a read a second loses nothing but
# the last second of a thread that ends; the monitor's cost budget is per tick)
try:  # whether stat() of /proc/PID/fd gives the number of open descriptors (Linux 6.2 and later; 0 before)
    _FD_SIZE = _LINUX and os.stat(f"/proc/{os.getpid()}/fd").st_size > 0
except OSError:
    _FD_SIZE = False


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
            # one stat() instead of listing the folder, where the kernel counts the descriptors itself
            fds = os.stat(f"/proc/{pid}/fd").st_size if _FD_SIZE else 0
            if not fds:
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
            r, w = io.find(b"\nread_bytes: "), io.find(b"\nwrite_bytes: ")
            if r >= 0 and w >= 0:
                rb, wb = int(io[r + 13:io.index(b"\n", r + 1)]), int(io[w + 14:io.index(b"\n", w + 1)])
        except (ValueError, IndexError):
            raise _Gone from None
        return cpu, rss, threads, fds, rb, wb, ctx


@dataclass
class _Tree:
    root: int
    role: str
    labels: Labels = ()
    procs: dict[int, _Proc] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)  # every pid that was in the tree: links orphans to it
    token: bytes = b""  # the root's supervisor token entry, if it has one
    root_start: int = 0  # clock ticks after boot; an orphan that started earlier did not come from this tree
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
    sched_at: float = -1e9  # monotonic time of the last run-queue read


class ProcessMonitor:
    """Samples every watched tree each ``1/hz`` seconds (see the module docstring for what a tree holds).

    ``rediscover``: the longest time, in seconds, between two walks of the trees (walks also follow new pids).
    """

    def __init__(self, emit: Callable[[Event], None], *, hz: float = 10.0,
                 clock: Callable[[], float] | None = None, rediscover: float = 2.0) -> None:
        self.emit = emit
        self.period = 1.0 / hz
        t0 = time.monotonic()
        self.clock = clock or (lambda: time.monotonic() - t0)
        self.rediscover = rediscover
        self.trees: dict[int, _Tree] = {}
        self._last_discover = -float("inf")
        self._children_files = children_files()
        self._gate_fd = -1
        self._last_pid = b""
        self._members = 0  # members ever added: an orphan no tree claimed is looked at again once this grows
        self._unclaimed: dict[int, int] = {}  # orphan pid -> self._members when no tree claimed it

    def watch(self, pid: int, role: str = "target") -> None:
        if pid in self.trees:
            return
        tree = _Tree(pid, role, labels(role=role), started=self.clock())
        with contextlib.suppress(psutil.Error):
            tree.procs[pid] = self._prime(psutil.Process(pid))
        tree.seen.add(pid)
        st = proc_stat(pid) if _LINUX else None
        tree.root_start = st.start if st else 0
        tree.token = token_entry(pid) if _LINUX else b""
        tree.last = time.monotonic()
        self.trees[pid] = tree
        self._last_discover = -float("inf")  # walk at the next tick: the root may have started children already

    @staticmethod
    def _prime(proc: psutil.Process) -> _Proc:
        p = _Proc(proc)
        p.open_fast()
        with contextlib.suppress(_Gone):
            p.cpu, _, _, _, rb, wb, p.ctx = p.counters()
            p.read, p.write = rb or 0, wb or 0
        return p

    def _add(self, tree: _Tree, pid: int) -> bool:
        try:
            tree.procs[pid] = self._prime(psutil.Process(pid))
        except psutil.Error:
            return False
        tree.seen.add(pid)
        self._members += 1
        return True

    def _forked(self) -> bool:
        """Whether the kernel handed out a pid (to a process or a thread) since the last call, anywhere in this
        process's pid namespace, which includes every namespace below it: the last field of /proc/loadavg.
        True when that cannot be read. Blind only if the pid counter came round to the same value between two
        calls; the walk every ``rediscover`` seconds covers that."""
        if self._gate_fd < 0:
            try:
                self._gate_fd = os.open("/proc/loadavg", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return True
        try:
            last = os.pread(self._gate_fd, 256, 0).rsplit(None, 1)[-1]
        except (OSError, IndexError):
            return True
        changed = last != self._last_pid
        self._last_pid = last
        return changed

    def _walk_due(self, now_m: float) -> bool:
        if now_m - self._last_discover >= self.rediscover:
            if self._children_files:
                self._forked()  # note the current last pid, so the next tick compares with this walk
            return True
        # Without children files (a kernel built without CONFIG_PROC_CHILDREN, or not Linux) a walk has to read
        # the parent of every process on the machine; it is kept to every `rediscover` seconds there.
        return self._children_files and self._forked()

    def _discover(self) -> None:
        """Walk every tree from all its members, then give orphans re-parented to this process to their trees."""
        me = os.getpid()
        if self._children_files:
            kids: Callable[[int], list[int]] = task_children
            # an orphan is re-parented to the subreaper's first live thread: the main one, which Python keeps
            own = [int(x) for x in read_all(f"/proc/{me}/task/{me}/children").split()]
        else:
            by_parent: dict[int, list[int]] = {}
            for pid, ppid in ppid_map().items():
                by_parent.setdefault(ppid, []).append(pid)
            kids = lambda pid: by_parent.get(pid, [])  # noqa: E731
            own = by_parent.get(me, [])
        for tree in self.trees.values():
            self._grow(tree, list(tree.procs), kids)
        if _LINUX:
            self._adopt(own, kids)

    def _grow(self, tree: _Tree, todo: list[int], kids: Callable[[int], list[int]]) -> None:
        while todo:
            for child in kids(todo.pop()):
                if child not in tree.procs and self._add(tree, child):
                    todo.append(child)

    def _adopt(self, own: list[int], kids: Callable[[int], list[int]]) -> None:
        """Orphans among this process's children go to the trees they came from (see the module docstring)."""
        known = set(self.trees)
        for tree in self.trees.values():
            known.update(tree.procs)
        self._unclaimed = {pid: n for pid, n in self._unclaimed.items() if pid in own}
        for pid in own:
            if pid in known or self._unclaimed.get(pid) == self._members:
                continue
            st = proc_stat(pid)
            if st is None or st.state in (b"Z", b"X"):
                continue
            env: list[bytes] | None = None
            claimed = False
            for tree in self.trees.values():
                if st.start < tree.root_start:
                    continue
                linked = st.session in tree.seen or st.pgrp in tree.seen
                if not linked and tree.token:
                    if env is None:
                        env = read_all(f"/proc/{pid}/environ").split(b"\0")
                    linked = tree.token in env
                if linked and self._add(tree, pid):
                    self._grow(tree, [pid], kids)
                    claimed = True
            if not claimed:
                self._unclaimed[pid] = self._members

    def sample_once(self) -> None:
        now_m = time.monotonic()
        if self.trees and self._walk_due(now_m):
            self._last_discover = now_m
            self._discover()
        t = self.clock()
        emit = self.emit
        for tree in self.trees.values():
            dt = max(now_m - tree.last, 1e-6)
            tree.last = now_m
            cpu = rss = threads = fds = d_read = d_write = d_ctx = 0.0
            alive = 0
            read_sched = now_m - tree.sched_at >= SCHED_EVERY
            if read_sched:
                tree.sched_at = now_m
            for pid, p in list(tree.procs.items()):
                try:
                    c, r, n_threads, n_fds, rb, wb, n_ctx = p.counters()
                except _Gone:
                    p.close()
                    del tree.procs[pid]
                    tree.sched.forget(pid)
                    continue
                if read_sched:
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
            lb = tree.labels
            emit(Sample(t, "proc.cpu", cpu / dt, lb))
            emit(Sample(t, "proc.rss", rss, lb))
            emit(Sample(t, "proc.threads", threads, lb))
            emit(Sample(t, "proc.fds", fds, lb))
            emit(Sample(t, "proc.procs", alive, lb))
            emit(Sample(t, "proc.io.read", d_read / dt, lb))
            emit(Sample(t, "proc.io.write", d_write / dt, lb))
            emit(Sample(t, "proc.ctx_switches", d_ctx / dt, lb))

    async def run(self) -> None:
        """Sample every period until cancelled (the first sample comes one period after start).

        Ticks are timer callbacks, not a sleeping loop: a coroutine woken by a timer costs the event loop two
        passes per tick (the timer, then the task's step), a good part of the budget at 10 Hz.
        """
        loop = asyncio.get_running_loop()
        stopped: asyncio.Future[None] = loop.create_future()
        next_t = loop.time()
        handle: asyncio.TimerHandle | None = None

        def schedule() -> None:
            nonlocal next_t, handle
            next_t += self.period
            now = loop.time()
            if next_t < now - self.period:  # the loop was blocked: skip missed ticks, don't burst
                next_t = now + self.period
            handle = loop.call_at(next_t, tick)

        def tick() -> None:
            try:
                if self.trees:
                    self.sample_once()
            except Exception as e:  # ends run() with it
                if not stopped.done():
                    stopped.set_exception(e)
                return
            schedule()

        schedule()
        try:
            await stopped
        finally:
            if handle is not None:
                handle.cancel()
            self.close()

    def close(self) -> None:
        """Release the kept /proc descriptors (the engine calls this when the run ends)."""
        for tree in self.trees.values():
            for pid, p in tree.procs.items():  # the last run-queue figures, then the descriptors
                with contextlib.suppress(_Gone, OSError):
                    tree.sched.sample(pid, p.counters()[2])
                p.close()
            tree.sched.close()
        if self._gate_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._gate_fd)
            self._gate_fd = -1

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
