"""Concurrency demo: a shared counter with a lost-update race, and its locked twin.

``racy_increment`` does a read-modify-write of a shared attribute with a switch point in the middle::

    v = counter.value      # read
    time.sleep(0)          # switch point
    counter.value = v + 1  # write (overwrites whatever other threads wrote meanwhile)

Why the race shows reliably on CPython 3.11 *with* the GIL: the GIL makes each bytecode atomic but not the
three-step sequence, and without help a thread is only forced to yield every ``sys.getswitchinterval()``
(5 ms), i.e. rarely between the read and the write. ``time.sleep(0)`` releases the GIL (it is a real
syscall), so every call hands the interpreter to any other runnable thread exactly between the read and the
write; with two or more threads, updates are lost within a few hundred calls. ``locked_increment`` does the
same under a ``threading.Lock`` and never loses one. ``racy_increment_async`` is the asyncio version: the
``await asyncio.sleep(0)`` yields to the event loop at the same place, so concurrent tasks lose updates too.

Processes do not share the counter (each worker process has its own copy), so they never lose updates:
the concurrency test says which worker kind broke, not just that something did.
"""

from __future__ import annotations

import asyncio
import threading
import time


class Counter:
    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()


racy = Counter()
locked = Counter()


def reset() -> None:
    """Set both counters back to zero (the harness calls it before every trial)."""
    racy.value = 0
    locked.value = 0


def racy_increment() -> int:
    """Add one to the shared counter without a lock; returns the value written."""
    v = racy.value
    time.sleep(0)  # releases the GIL: another thread runs between our read and our write
    racy.value = v + 1
    return v + 1


def locked_increment() -> int:
    """Add one to the shared counter under a lock; returns the value written."""
    with locked.lock:
        v = locked.value
        time.sleep(0)  # the same switch point, harmless here: the others wait for the lock
        locked.value = v + 1
        return v + 1


async def racy_increment_async() -> int:
    """The asyncio race: the await is the switch point between read and write."""
    v = racy.value
    await asyncio.sleep(0)
    racy.value = v + 1
    return v + 1


def _check(counter: Counter, calls: int) -> str | None:
    if counter.value == calls:
        return None
    lost = calls - counter.value
    return f"counter is {counter.value:,} after {calls:,} increments ({lost:,} updates lost)"


def racy_invariant(calls: int) -> str | None:
    """None when the racy counter equals the number of calls, else what went wrong."""
    return _check(racy, calls)


def locked_invariant(calls: int) -> str | None:
    """None when the locked counter equals the number of calls, else what went wrong."""
    return _check(locked, calls)
