"""The side-channel wire format: one JSON object per line, written to an inherited pipe.

The parent creates a pipe, passes the write end to the child and names it in ``PERFLAB_EVENT_FD``.
Anything the child prints goes to stdout/stderr and can never corrupt these records.

Record kinds (field ``k``): ``sample`` (series, value, labels), ``log``, ``phase`` (name, detail, progress),
``table`` (name, columns, rows), ``artifact`` (kind, path, description), ``notice`` (level, message, code)
and free-form kinds a runner agrees with its own agent (``bench``, ``collected``, ``stats``, ...).
Times are not sent: the parent stamps records when they arrive.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

ENV_FD = "PERFLAB_EVENT_FD"
ENV_T0 = "PERFLAB_T0"  # wall-clock start of the session, for agents that need absolute times


class Channel:
    """Writer for the side channel. Thread-safe; a closed or missing channel makes ``send`` a no-op."""

    def __init__(self, fd: int | None) -> None:
        self._lock = threading.Lock()
        self._file = os.fdopen(fd, "w", buffering=1 << 16, encoding="utf-8", closefd=True) if fd is not None else None

    @property
    def connected(self) -> bool:
        return self._file is not None

    def send(self, kind: str, **fields: Any) -> None:
        if self._file is None:
            return
        fields["k"] = kind
        line = json.dumps(fields, separators=(",", ":"), default=str)
        with self._lock:
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except (BrokenPipeError, ValueError, OSError):
                self._file = None

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except OSError:
                    pass
                self._file = None


_channel: Channel | None = None


def channel() -> Channel:
    """The process-wide channel named by ``PERFLAB_EVENT_FD`` (a no-op channel when absent)."""
    global _channel
    if _channel is None:
        raw = os.environ.get(ENV_FD)
        fd: int | None = None
        if raw:
            try:
                fd = int(raw)
                os.fstat(fd)
            except (ValueError, OSError):
                fd = None
        _channel = Channel(fd)
    return _channel


def decode(line: bytes | str) -> dict[str, Any] | None:
    """Parse one record; ``None`` for a line that is not a JSON object (never raises)."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("k"), str) else None


def resolve(ref: str) -> Any:
    """Import ``module:attr.path`` (``builtins:sorted`` works)."""
    import importlib

    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{ref!r} is not of the form module:function")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
