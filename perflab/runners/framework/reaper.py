"""Nothing perflab starts outlives it: the watchdog, the subreaper, the records, and the sweep at start.

Layers, each covering what the one before cannot (Linux; elsewhere only the supervisor's stop applies):

1. every direct child dies with perflab (``PR_SET_PDEATHSIG(SIGKILL)`` set before exec,
   runners/agents/lifeline.py);
2. :func:`guard` makes perflab a child subreaper, so an orphan anywhere below it (a daemon that double-forked,
   called setsid and wiped its environment) is re-parented to perflab and stays in its tree, and starts the
   watchdog (framework/watchdog.py), which records that tree every ~0.1 s and kills it when perflab dies, by
   SIGKILL too;
3. the watchdog keeps its record in a state file per live perflab process in :func:`runtime_dir`; if the
   watchdog died as well, :func:`sweep` (called when a run starts) ends what a dead owner left: recorded
   processes with the same start time, members of recorded process groups, holders of recorded tokens.

At a normal exit perflab closes the watchdog's pipe and waits (at most ``EXIT_WAIT`` s) until it has gone,
so no watchdog is left behind either.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import select
import stat as stat_mod
import subprocess
import sys
import tempfile
from pathlib import Path

from perflab.runners.agents import lifeline
from perflab.runners.framework import watchdog as wd

RUNTIME_ENV = "PERFLAB_RUNTIME_DIR"  # overrides where the state files live
READY_WAIT = 3.0  # seconds to wait for the watchdog's first scan
EXIT_WAIT = 1.0  # seconds to wait at exit for the watchdog to finish


def runtime_dir() -> Path | None:
    """A folder only this user can write (``$XDG_RUNTIME_DIR/perflab`` or ``/tmp/perflab-UID``), or None.

    The sweep kills what the files there name, so a folder that someone else owns or may write is refused.
    """
    base = os.environ.get(RUNTIME_ENV)
    if not base:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        base = (os.path.join(xdg, "perflab") if xdg and os.path.isdir(xdg)
                else os.path.join(tempfile.gettempdir(), f"perflab-{os.geteuid()}"))
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.lstat(base)
    except OSError:
        return None
    if not stat_mod.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return Path(base)


class _Guard:
    """perflab's end of the watchdog: the command pipe (whose end of file means "perflab is gone") and the
    watchdog's stdout (whose end of file means "the watchdog is gone")."""

    def __init__(self, pid: int, write_fd: int, ready_fd: int, state: str) -> None:
        self.pid, self.write_fd, self.ready_fd, self.state = pid, write_fd, ready_fd, state
        self.closed = False

    def send(self, line: str) -> bool:
        """False only when the watchdog is gone; a message that does not fit a full pipe is dropped (the tree
        scan finds the process anyway) rather than taken for a dead watchdog."""
        try:
            os.write(self.write_fd, line.encode("ascii") + b"\n")
        except BlockingIOError:
            return True
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Tell the watchdog we are done and wait until it has exited (its stdout pipe closes). Once only:
        a descriptor number closed twice may by then name another file (SQLite's, say)."""
        if self.closed or self.pid != os.getpid():
            return
        self.closed = True
        with contextlib.suppress(OSError):
            os.close(self.write_fd)
        with contextlib.suppress(OSError, ValueError):
            ready, _, _ = select.select([self.ready_fd], [], [], EXIT_WAIT)
            while ready and os.read(self.ready_fd, 4096):
                ready, _, _ = select.select([self.ready_fd], [], [], EXIT_WAIT)
        with contextlib.suppress(OSError):
            os.close(self.ready_fd)


_guard: _Guard | None = None


def guard() -> bool:
    """Start this process's watchdog (once) and become a subreaper. False where that is not possible."""
    global _guard
    if not sys.platform.startswith("linux"):
        return False
    me = os.getpid()
    if _guard is not None and _guard.pid == me:
        return True
    folder = runtime_dir()
    my_start = wd.start_of(me)
    if my_start is None:
        return False
    state = str(folder / f"{me}-{my_start}.json") if folder else wd.NO_STATE
    cmd_r, cmd_w = os.pipe()
    ready_r, ready_w = os.pipe()
    lifeline.set_subreaper(False)  # a restarted watchdog must not be re-parented to us when it forks away
    try:
        # -I -S: no site, no user environment: a few milliseconds to start, whatever the environment holds
        launcher = subprocess.Popen(
            [sys.executable, "-I", "-S", wd.__file__, str(me), str(my_start), state],
            stdin=cmd_r, stdout=ready_w, stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        launcher.wait()  # it forks the watchdog and exits at once
    except OSError:
        for fd in (cmd_r, cmd_w, ready_r, ready_w):
            os.close(fd)
        lifeline.set_subreaper(True)
        return False
    os.close(cmd_r)
    os.close(ready_w)
    with contextlib.suppress(OSError):
        ready, _, _ = select.select([ready_r], [], [], READY_WAIT)
        if ready:
            os.read(ready_r, 64)
    fcntl.fcntl(cmd_w, fcntl.F_SETFL, fcntl.fcntl(cmd_w, fcntl.F_GETFL) | os.O_NONBLOCK)
    lifeline.set_subreaper(True)
    _guard = _Guard(me, cmd_w, ready_r, state)
    atexit.register(_guard.close)
    return True


def announce(token: str, pid: int) -> None:
    """Tell the watchdog about a child that leads its own process group and carries ``token``."""
    start = wd.start_of(pid)
    if start is None or not guard() or _guard is None:
        return
    line = f"child {token} {pid} {start}"
    if not _guard.send(line):
        _restart()
        if _guard is not None:
            _guard.send(line)


def _restart() -> None:
    """The watchdog died (its pipe is broken): start another."""
    global _guard
    if _guard is not None:
        _guard.close()
    _guard = None
    guard()


def sweep() -> list[int]:
    """End what perflab processes that died without cleaning up left behind; returns the pids killed.

    Only files of owners that are verifiably dead (no process with that pid and start time) are used, and only
    processes whose start time matches the record (or members of a recorded group, or holders of a recorded
    token) are killed; a file read is deleted.
    """
    if not sys.platform.startswith("linux"):
        return []
    folder = runtime_dir()
    if folder is None:
        return []
    killed: list[int] = []
    for path in folder.glob("*.json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            owner, owner_start = int(doc["owner"]), int(doc["owner_start"])
        except (OSError, ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                if path.stat().st_size == 0:
                    path.unlink()
            continue
        if wd.alive(owner, owner_start) or owner == os.getpid():
            continue
        try:
            procs = {int(p): int(s) for p, s in doc.get("procs", [])}
            groups = {int(g): int(s) for g, s in doc.get("groups", [])}
            tokens = {str(t) for t in doc.get("tokens", [])}
        except (ValueError, TypeError):
            procs, groups, tokens = {}, {}, set()
        killed += wd.kill_all(procs, groups, tokens)
        with contextlib.suppress(OSError):
            path.unlink()
    return killed


def adopted(since: int, exclude: set[int]) -> dict[int, int]:
    """Children of this process it did not start itself: orphans re-parented to it as subreaper (pid -> start).

    ``since``: only processes started at or after this many clock ticks after boot; ``exclude``: pids of the
    children perflab started (which are reaped by their own waiters). Processes in perflab's own session are
    left alone (a plain ``subprocess.run`` of perflab's); an orphan from a supervised child is in that child's
    session, or in one it made itself.
    """
    if not sys.platform.startswith("linux"):
        return {}
    me = os.getpid()
    mine = os.getsid(0)
    out: dict[int, int] = {}
    for pid in wd.children(me):
        st = wd.stat(pid)
        if st is None or pid in exclude or st.sid == mine or st.start < since or st.state in ("Z", "X"):
            continue
        out[pid] = st.start
    return out


def reap_adopted_zombies(exclude: set[int]) -> int:
    """Collect every zombie child of this process that perflab did not start itself (``exclude``: the children
    perflab started, which their own waiters reap) and that is not in perflab's own session (a plain
    ``subprocess`` call of perflab's, waited for by its caller): orphans adopted as subreaper that have ended
    would otherwise stay zombies for the life of the process (the app runs many sessions). Returns the count."""
    if not sys.platform.startswith("linux"):
        return 0
    me, mine, n = os.getpid(), os.getsid(0), 0
    for pid in wd.children(me):
        st = wd.stat(pid)
        if st is None or pid in exclude or st.sid == mine or st.state != "Z":
            continue
        with contextlib.suppress(ChildProcessError, OSError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                n += 1
    return n


def reap_zombies(pids: set[int]) -> None:
    """Collect the exit status of those of ``pids`` that are this process's zombie children.

    Only for pids known to be perflab's own (found in a supervised tree): a zombie cannot be reused, so the pid
    still names the process that was signalled.
    """
    me = os.getpid()
    for pid in pids:
        st = wd.stat(pid)
        if st is not None and st.ppid == me and st.state == "Z":
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
