"""The children's stdout/stderr as Log events, bounded per session: the head and the tail are kept.

A target may print without limit; a session stores at most ``limit`` bytes of its children's output (default
:data:`DEFAULT_LIMIT`) and at most ``limit // BYTES_PER_LINE`` lines, whichever comes first: the first half of
that budget as the lines arrive, the last half when the session's output ends (:meth:`SessionLog.flush`).
Lines in between never become events, so no sink, the store included, ever sees them; they are only counted
(lines and bytes, and lines per source) and the count becomes a note. A line counts as its bytes plus one (the
newline).

Cost: past the head, a block of output (many lines, as read from the pipe) costs one ``bytes.count`` and a
deque append: a chatty child is drained as fast as the pipe delivers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from perflab.core.units import size as _mib

DEFAULT_LIMIT = 4 << 20  # bytes of output stored per session
BYTES_PER_LINE = 32  # the line budget is limit // this: many tiny lines cost the store more than their bytes
MAX_LINE = 1 << 16  # longer lines are stored in pieces of this many bytes

LineSink = Callable[[str, str, str], None]  # (source, stream, line)


def pieces(line: bytes) -> list[bytes]:
    """``line`` cut into pieces of at most MAX_LINE bytes (one piece for a normal line)."""
    if len(line) <= MAX_LINE:
        return [line]
    return [line[i:i + MAX_LINE] for i in range(0, len(line), MAX_LINE)]


def decode(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r")


def last_line(lines: Iterable[str], default: str = "no output") -> str:
    """The last non-blank line of a child's output (a stream's tail), stripped: a failure told in one line."""
    kept = [x.strip() for x in lines if x.strip()]
    return kept[-1] if kept else default


class SessionLog:
    """Feeds lines to ``sink`` within the session's budget; counts what it leaves out."""

    def __init__(self, sink: LineSink, limit: int = DEFAULT_LIMIT) -> None:
        self.sink = sink
        self.set_limit(limit)
        self.head_bytes = self.head_lines = 0  # kept as they came
        self.head_open = True  # closed for good at the first line that does not fit: order is kept
        self.tail: deque[tuple[str, str, bytes, int, int]] = deque()  # (source, stream, block, bytes, lines)
        self.tail_bytes = self.tail_lines = 0
        self.dropped_bytes = 0
        self.dropped_by: dict[str, int] = {}  # lines left out, per source (the target, each tool)
        self.kept_tail_bytes = self.kept_tail_lines = 0

    def set_limit(self, limit: int) -> None:
        self.limit = max(int(limit), 2)
        self.head_budget = self.limit // 2
        self.tail_budget = self.limit - self.head_budget
        self.head_line_budget = max(1, self.head_budget // BYTES_PER_LINE)
        self.tail_line_budget = max(1, self.tail_budget // BYTES_PER_LINE)

    def feed(self, source: str, stream: str, block: bytes) -> None:
        """``block``: one or more complete lines joined by ``\\n`` (no trailing newline)."""
        if self.head_open:
            lines = block.split(b"\n")
            for i, line in enumerate(lines):
                size = len(line) + 1
                if self.head_bytes + size > self.head_budget or self.head_lines >= self.head_line_budget:
                    self.head_open = False
                    self._to_tail(source, stream, b"\n".join(lines[i:]), len(lines) - i)
                    return
                self.head_bytes += size
                self.head_lines += 1
                for piece in pieces(line):
                    self.sink(source, stream, decode(piece))
            return
        self._to_tail(source, stream, block, block.count(b"\n") + 1)

    def _to_tail(self, source: str, stream: str, block: bytes, lines: int) -> None:
        size = len(block) + 1
        self.tail.append((source, stream, block, size, lines))
        self.tail_bytes += size
        self.tail_lines += lines
        # drop whole blocks from the front while what remains still fills the budget
        while len(self.tail) > 1:
            _, _, _, b, n = self.tail[0]
            if self.tail_bytes - b < self.tail_budget and self.tail_lines - n < self.tail_line_budget:
                break
            src = self.tail.popleft()[0]
            self.tail_bytes -= b
            self.tail_lines -= n
            self._drop(src, b, n)

    def flush(self) -> str | None:
        """Emit the kept tail; returns the note about what was left out (None when nothing was)."""
        if not self.tail:
            return self.note()
        entries, self.tail = list(self.tail), deque()
        self.tail_bytes = self.tail_lines = 0
        # the first block may hold more than the budget: keep only its last lines
        over_b = sum(e[3] for e in entries) - self.tail_budget
        over_n = sum(e[4] for e in entries) - self.tail_line_budget
        source, stream, first, _, _ = entries[0]
        lines = first.split(b"\n")
        cut = 0
        while cut < len(lines) - 1 and (over_b > 0 or over_n > 0):
            over_b -= len(lines[cut]) + 1
            over_n -= 1
            self._drop(source, len(lines[cut]) + 1, 1)
            cut += 1
        groups = [(source, stream, lines[cut:])] + [(s, st, b.split(b"\n")) for s, st, b, _, _ in entries[1:]]
        for src, strm, group in groups:
            for line in group:
                self.kept_tail_bytes += len(line) + 1
                self.kept_tail_lines += 1
                for piece in pieces(line):
                    self.sink(src, strm, decode(piece))
        return self.note()

    @property
    def dropped_lines(self) -> int:
        return sum(self.dropped_by.values())

    def _drop(self, source: str, size: int, lines: int) -> None:
        self.dropped_bytes += size
        self.dropped_by[source] = self.dropped_by.get(source, 0) + lines

    def note(self) -> str | None:
        if not self.dropped_by:
            return None
        by = ", ".join(f"{n:,} of {src}" for src, n in sorted(self.dropped_by.items(), key=lambda x: -x[1]))
        return (f"{self.dropped_lines:,} log lines ({_mib(self.dropped_bytes)}; {by}) not stored: kept the first "
                f"{self.head_lines:,} ({_mib(self.head_bytes)}) and the last {self.kept_tail_lines:,} "
                f"({_mib(self.kept_tail_bytes)}) of the session's output (limit {_mib(self.limit)})")
