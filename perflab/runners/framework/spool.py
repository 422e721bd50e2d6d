"""A child's stdout or stderr spooled through an unlinked temporary file, so the child never waits for perflab.

Into a pipe a writer blocks whenever the pipe is full (1 MiB at most for an unprivileged process), that is
whenever perflab's event loop is busy with something else: a target printing 50 MB ran at the pace of
perflab's reading, on a busy 2-core machine several times slower than into a pipe read by ``cat``. Into a
file it writes at the speed of the page cache, whatever perflab is doing.

perflab reads what is new every :data:`POLL` seconds (all of it, :data:`READ_CHUNK` bytes per read) and
punches a hole (``FALLOC_FL_PUNCH_HOLE``) behind what it has read, so the file's disk use is what perflab has
not read yet, never the whole output. The file is unlinked from the start: nothing is left behind whatever
way perflab or the child ends. Where holes cannot be punched (or no temporary file can be made) :func:`create`
returns None and the caller keeps a pipe.

Invariants: every byte the child writes is handed on exactly once and in order (reads go by perflab's own
offset with ``pread``; the child appends with ``O_APPEND``); a hole is punched only behind bytes already read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import fcntl
import functools
import os
import tempfile
from collections.abc import Callable

POLL = 0.05  # s between two looks at the files after something new came
IDLE_POLL = 0.4  # s between two looks once the files have been quiet a while (the wait doubles up to this)
BUDGET = 32 << 20  # bytes read from one file before the event loop gets a turn
READ_CHUNK = 1 << 20  # bytes per read
PUNCH_EVERY = 4 << 20  # bytes read between two punches
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

_fallocate: Callable[[int, int, int, int], int] | None = None


def _libc_fallocate() -> Callable[[int, int, int, int], int] | None:
    global _fallocate
    if _fallocate is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return None
        libc = ctypes.CDLL(name, use_errno=True)
        fn = getattr(libc, "fallocate64", None) or getattr(libc, "fallocate", None)
        if fn is None:
            return None
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        fn.restype = ctypes.c_int
        _fallocate = fn
    return _fallocate


def _punch(fd: int, offset: int, length: int) -> bool:
    fn = _libc_fallocate()
    return fn is not None and fn(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) == 0


class Spool:
    """One stream's file: :attr:`fd` goes to the child (dup'ed onto its stdout or stderr); perflab reads it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.offset = 0  # bytes handed on
        self.punched = 0  # bytes freed: [0, punched) is a hole

    def read(self, handle: Callable[[bytes], None], budget: int = BUDGET) -> int:
        """Hand on what is new, up to about ``budget`` bytes, block by block; returns the bytes read."""
        got = 0
        while got < budget:
            block = os.pread(self.fd, READ_CHUNK, self.offset)
            if not block:
                break
            self.offset += len(block)
            got += len(block)
            handle(block)
        if self.offset - self.punched >= PUNCH_EVERY:
            if _punch(self.fd, self.punched, self.offset - self.punched):
                self.punched = self.offset
        return got

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def create(folder: str | None = None) -> Spool | None:
    """A new spool, or None where this system cannot punch holes into a temporary file (then keep a pipe)."""
    try:
        with tempfile.TemporaryFile(dir=folder, buffering=0) as f:
            fd = os.dup(f.fileno())  # O_TMPFILE where the file system has it: never visible in the folder
    except OSError:
        return None
    try:
        os.write(fd, b"\0" * 4096)
        ok = _punch(fd, 0, 4096)
        os.ftruncate(fd, 0)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
    except OSError:
        ok = False
    if not ok:
        with contextlib.suppress(OSError):
            os.close(fd)
        return None
    return Spool(fd)


async def pump(spools: dict[str, Spool], handle: Callable[[str, bytes], None], exited: asyncio.Event,
               tree_alive: Callable[[], bool]) -> None:
    """Hand on each spool's new bytes (``handle(stream, block)``) until the child has exited and its whole tree
    is gone, then once more; closes the spools. Cancelled (a drain that timed out), it still reads what is
    there before it ends."""
    handlers = {name: functools.partial(handle, name) for name in spools}
    wait = POLL
    try:
        while True:
            done = exited.is_set()  # looked at before reading: whatever the child wrote before it ended is read
            got = sum(s.read(handlers[name]) for name, s in spools.items())
            if done and not got and not tree_alive():
                return
            if got >= BUDGET:
                await asyncio.sleep(0)
                continue
            if done:  # a descendant may still write: look again soon
                await asyncio.sleep(POLL)
                continue
            wait = POLL if got else min(wait * 2, IDLE_POLL)
            with contextlib.suppress(TimeoutError):  # the child's exit ends the wait at once
                await asyncio.wait_for(exited.wait(), wait)
    finally:
        for name, s in spools.items():
            s.read(handlers[name], budget=1 << 62)
            s.close()
