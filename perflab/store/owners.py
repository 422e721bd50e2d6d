"""Who is recording a ``running`` session, and whether that recorder is verifiably dead.

Invariants, and why they hold:

* The process that creates a session takes an exclusive ``flock`` on ``<store>/locks/<session>.lock`` *before*
  the row exists and holds it until the row has its final status. The kernel drops the lock when that process
  dies, however it dies (kill -9 included), so "I can take the lock" means "the owner is gone", and "I cannot"
  means it is alive; no clock is involved. ``flock`` locks belong to the open file description, not to the
  process, so unlike SQLite's fcntl locks they survive other descriptors of the file being closed; and the lock
  file is never the database file. Descriptors are opened close-on-exec, so a child the owner executes does
  not keep a dead owner's session looking alive.
* A session is marked ``crashed`` only when its owner is verifiably dead. Rows without a lock file (written
  before lock files existed, or whose file was removed) fall back to the process id: dead when no such process
  exists, it is a zombie, or it started more than ``START_TOLERANCE`` seconds away from the recorded start time
  (the pid was reused). psutil derives start times from the boot time, which moves when the wall clock is stepped,
  so a tight tolerance would call a live owner dead. An owner on another host cannot be checked and is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
from pathlib import Path

START_TOLERANCE = 2.0  # seconds
_held: dict[str, int] = {}  # lock file -> the descriptor holding its flock, for sessions this process owns
_lock = threading.Lock()


def lock_path(locks_dir: Path, sid: str) -> Path:
    return locks_dir / f"{sid}.lock"


def claim(locks_dir: Path, sid: str) -> None:
    """Take and keep the owner lock of a new session (raises OSError when the folder cannot hold it)."""
    locks_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(locks_dir, sid)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    with _lock:
        _held[str(path)] = fd


def release(locks_dir: Path, sid: str) -> None:
    """Give up the owner lock once the session has its final status (a no-op when not held here)."""
    path = lock_path(locks_dir, sid)
    with _lock:
        fd = _held.pop(str(path), None)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        path.unlink()  # before the lock goes, so a reader never finds a free lock of a finished session
    os.close(fd)


def owned_here(locks_dir: Path, sid: str) -> bool:
    with _lock:
        return str(lock_path(locks_dir, sid)) in _held


def is_dead(locks_dir: Path, sid: str, host: str, pid: int, created: float) -> bool:
    """Whether the owner of a ``running`` session is verifiably gone (see the module docstring)."""
    if owned_here(locks_dir, sid) or host != socket.gethostname():
        return False
    path = lock_path(locks_dir, sid)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return _pid_dead(pid, created)
    except OSError:
        return False  # cannot look: assume alive
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: the owner is alive
    finally:
        os.close(fd)  # also releases the lock if it was taken
    return True


def discard(locks_dir: Path, sid: str) -> None:
    """Remove the lock file of a session found dead."""
    if not owned_here(locks_dir, sid):
        with contextlib.suppress(OSError):
            lock_path(locks_dir, sid).unlink()


def _pid_dead(pid: int, created: float) -> bool:
    import psutil  # only for a session still marked running: listing sessions does not load it

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True  # it only awaits reaping
        return abs(proc.create_time() - created) > START_TOLERANCE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False  # exists but cannot be inspected: assume alive
