"""Tie a process's life to its parent's on Linux: ``PR_SET_PDEATHSIG(SIGKILL)`` and ``PR_SET_CHILD_SUBREAPER``.

What :func:`preexec_hook` (run between fork and exec of a child) and :func:`die_with_parent` guarantee:

- the process is SIGKILLed by the kernel as soon as the *thread* that forked it exits; perflab starts its
  children from the event loop's thread, the main thread, whose exit is the process's;
- the setting survives exec (so it can be made before exec) but not fork: each process that should die with
  its parent sets it for itself, which is why agents that start processes call :func:`die_with_parent` in them;
- the race where the parent died before the setting was made is closed: when the parent is no longer the
  expected one right after the call, the process kills itself at once;
- off Linux, or without a usable libc ``prctl``, nothing happens and False is returned.

Stdlib only: this module runs in preexec hooks and inside agents.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_prctl: Any = None


def _load() -> Any:
    """libc's prctl with its argument types, or None. Loaded in the parent: a preexec hook must not dlopen."""
    global _prctl
    if _prctl is None:
        _prctl = False
        if sys.platform.startswith("linux"):
            try:
                fn = ctypes.CDLL(None, use_errno=True).prctl
                fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
                fn.restype = ctypes.c_int
                _prctl = fn
            except (OSError, AttributeError):
                pass
    return _prctl or None


def preexec_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die with this process (None where that is not possible)."""
    prctl = _load()
    if prctl is None:
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and the call: nobody would signal us
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def die_with_parent() -> bool:
    """Call in a process (an agent's worker) that must not outlive its parent. True when the setting was made."""
    prctl = _load()
    if prctl is None:
        return False
    parent = os.getppid()
    if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def set_subreaper(on: bool = True) -> bool:
    """With ``on``, orphans among this process's descendants are re-parented to it (not to init), so they stay
    in its tree. True when the setting was made."""
    prctl = _load()
    return prctl is not None and prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
