"""The watchdog: a small process that outlives perflab by a moment and ends everything perflab started.

perflab starts it once (framework/reaper.py) as ``python -I -S watchdog.py OWNER_PID OWNER_START STATE_FILE``.
It double-forks away, so it is nobody's child in perflab's tree, and lives in its own session, so no signal
perflab sends to a process group, and no terminal's Ctrl-C or hang-up, reaches it. What it guarantees:

- every ~0.1 s it records each descendant of perflab as (pid, start), where start is field 22 of
  /proc/PID/stat (clock ticks since boot: fixed for the life of a process, so a reused pid never matches);
  perflab is a child subreaper, so an orphan that double-forked away still hangs in perflab's tree;
- perflab tells it, on its stdin pipe, the token and process group of each child it starts;
- when that pipe reaches end of file (perflab exited, however: SIGKILL included), it stops (SIGSTOP) every
  recorded process that still has its recorded start, every member of a recorded process group, and every
  process whose environment carries a recorded token, then the children of the stopped ones (they can no
  longer fork behind our back), SIGKILLs them all, deletes its state file and exits;
- the state file (JSON: owner, tokens, groups, processes) is rewritten atomically when the set changes, so
  if the watchdog dies with perflab the next perflab's sweep (reaper.sweep) can do the same from the file;
- stdout carries one "ready" line after the first scan, then stays open until exit: perflab reads end of
  file there at its normal exit, so it knows the watchdog is gone before it returns.

Standard library only, no perflab import: it starts in a few milliseconds in isolated mode. The /proc
helpers here are shared with reaper.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import time
from typing import NamedTuple

POLL = 0.1  # seconds between scans of perflab's tree
NO_STATE = "-"  # the state-file argument when there is no safe folder for one
WRITE_EVERY = 0.25  # seconds: at most this often the state file is rewritten
TOKEN_VAR = b"PERFLAB_SUPERVISOR_TOKEN="


class Stat(NamedTuple):
    state: str
    ppid: int
    pgid: int
    sid: int
    start: int  # clock ticks after boot


def stat(pid: int) -> Stat | None:
    """The process's /proc/PID/stat fields that identify and place it, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        # "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
        # cutime cstime priority nice num_threads itrealvalue starttime ..."; comm may hold spaces and ")"
        f = data[data.rfind(b")") + 2:].split(b" ", 20)
        return Stat(f[0].decode(), int(f[1]), int(f[2]), int(f[3]), int(f[19]))
    except (OSError, ValueError, IndexError):
        return None


def now_ticks() -> int:
    """The current time in the unit of a process's start: clock ticks since boot."""
    with open("/proc/uptime", "rb") as fh:
        return int(float(fh.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def start_of(pid: int) -> int | None:
    st = stat(pid)
    return st.start if st is not None else None


def alive(pid: int, start: int) -> bool:
    """Whether the process that had ``start`` still runs under ``pid`` (zombies are not alive)."""
    st = stat(pid)
    return st is not None and st.start == start and st.state not in ("Z", "X")


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, every thread's (a child belongs to the thread that forked it)."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out.extend(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            continue
    return out


def descendants(root: int) -> dict[int, Stat]:
    """Every descendant of ``root`` (not root) with its stat."""
    out: dict[int, Stat] = {}
    todo = [root]
    while todo:
        for kid in children(todo.pop()):
            if kid not in out:
                st = stat(kid)
                if st is not None:
                    out[kid] = st
                    todo.append(kid)
    return out


def _all_pids() -> list[int]:
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def token_holders(tokens: set[str], exclude: int = -1) -> dict[int, int]:
    """pid -> start of every readable process whose environment carries ``PERFLAB_SUPERVISOR_TOKEN=t``."""
    if not tokens:
        return {}
    needles = [TOKEN_VAR + t.encode() for t in tokens]
    out: dict[int, int] = {}
    for pid in _all_pids():
        if pid == exclude:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if any(n in env for n in needles):
            st = start_of(pid)
            if st is not None:
                out[pid] = st
    return out


def group_members(groups: dict[int, int]) -> dict[int, int]:
    """pid -> start of every member of the recorded groups (pgid -> its leader's start) that are still ours.

    A group is ours while its leader runs with the recorded start; with the leader gone, its number cannot be
    handed to a new process while members remain, so the members are ours unless a live process now holds the
    number (then the group is gone and the number someone else's).
    """
    if not groups:
        return {}
    ours = set()
    for pgid, start in groups.items():
        st = stat(pgid)
        if st is None or st.start == start:
            ours.add(pgid)
    out: dict[int, int] = {}
    if not ours:
        return out
    for pid in _all_pids():
        st = stat(pid)
        if st is not None and st.pgid in ours and st.state not in ("Z", "X"):
            out[pid] = st.start
    return out


def _signal(pid: int, start: int, sig: int) -> bool:
    if not alive(pid, start):
        return False
    try:
        os.kill(pid, sig)
        return True
    except OSError:
        return False


def kill_all(procs: dict[int, int], groups: dict[int, int] | None = None, tokens: set[str] | None = None,
             exclude: int = -1) -> list[int]:
    """SIGKILL the recorded processes (pid -> start), group members, token holders, and their descendants.

    Everything found is first stopped (SIGSTOP), so nothing forks between being found and being killed; the
    children of stopped processes are then added until no new one appears. Returns the pids killed.
    """
    me = os.getpid()
    todo = dict(procs)
    todo.update(group_members(groups or {}))
    todo.update(token_holders(tokens or set(), exclude=me))
    frozen: dict[int, int] = {}
    for _ in range(50):  # each round adds one generation; a fork bomb must not keep us here for ever
        new = {p: s for p, s in todo.items() if p not in frozen and p not in (me, exclude)}
        if not new:
            break
        todo = {}
        for pid, start in new.items():
            if _signal(pid, start, signal.SIGSTOP):
                frozen[pid] = start
        for pid in new:
            for kid in children(pid):
                st = stat(kid)
                if st is not None and kid not in frozen:
                    todo[kid] = st.start
    return [pid for pid, start in frozen.items() if _signal(pid, start, signal.SIGKILL)]


class Watch:
    """What the watchdog knows about perflab's processes."""

    def __init__(self, owner: int, owner_start: int, state_path: str) -> None:
        self.owner, self.owner_start, self.state_path = owner, owner_start, state_path
        self.procs: dict[int, tuple[int, int]] = {}  # pid -> (start, pgid)
        self.groups: dict[int, int] = {}  # pgid -> leader's start
        self.tokens: set[str] = set()
        self.changed = True
        self.written = 0.0

    def command(self, line: str) -> None:
        """``child TOKEN PID START``: a child perflab started, leading its own process group."""
        parts = line.split()
        if len(parts) == 4 and parts[0] == "child":
            self.tokens.add(parts[1])
            self.groups[int(parts[2])] = int(parts[3])
            self.changed = True

    def scan(self) -> None:
        me = os.getpid()
        for pid, st in descendants(self.owner).items():
            if pid != me and self.procs.get(pid, (None,))[0] != st.start:
                self.procs[pid] = (st.start, st.pgid)
                self.changed = True
        for pid, (start, _) in list(self.procs.items()):
            if not alive(pid, start):
                del self.procs[pid]
                self.changed = True
        live_groups = {pg for _, pg in self.procs.values()}
        for pgid, start in list(self.groups.items()):
            if pgid not in live_groups and not alive(pgid, start):
                del self.groups[pgid]
                self.changed = True

    def write(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.state_path == NO_STATE or not self.changed or (not force and now - self.written < WRITE_EVERY):
            return
        doc = {"owner": self.owner, "owner_start": self.owner_start, "tokens": sorted(self.tokens),
               "groups": sorted(self.groups.items()), "procs": sorted((p, s) for p, (s, _) in self.procs.items())}
        tmp = f"{self.state_path}.{os.getpid()}.tmp"
        with contextlib.suppress(OSError):
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(doc, fh)
            os.replace(tmp, self.state_path)
            self.changed, self.written = False, now

    def kill(self) -> list[int]:
        return kill_all({p: s for p, (s, _) in self.procs.items()}, self.groups, self.tokens)


def serve(watch: Watch) -> None:
    """Track until stdin reaches end of file (or the owner is gone), then kill what is left."""
    watch.scan()
    watch.write(force=True)
    with contextlib.suppress(OSError):
        os.write(1, b"ready\n")
    pending = b""
    while True:
        ready, _, _ = select.select([0], [], [], POLL)
        if ready:
            try:
                data = os.read(0, 65536)
            except OSError:
                data = b""
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                watch.command(line.decode("ascii", "replace"))
        if not alive(watch.owner, watch.owner_start):
            break  # the pipe's end of file is on its way; do not wait for it
        watch.scan()
        watch.write()
    watch.kill()
    if watch.state_path != NO_STATE:
        with contextlib.suppress(OSError):
            os.unlink(watch.state_path)


def main(argv: list[str]) -> None:
    owner, owner_start, state_path = int(argv[0]), int(argv[1]), argv[2]
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    if os.fork() > 0:  # the parent perflab waits for returns at once; the watchdog is nobody's child there
        os._exit(0)
    serve(Watch(owner, owner_start, state_path))


if __name__ == "__main__":
    main(sys.argv[1:])
