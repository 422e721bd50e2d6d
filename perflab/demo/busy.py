"""A CPU-bound demo with one clearly hottest function, for the CPU profile.

``crunch`` spends about 80 % of its time in ``checksum`` (a pure-Python byte loop), about 10 % in
``tokenize`` and the rest in ``summarize``. Run it as a script (``python -m perflab.demo.busy 3`` works for
3 seconds) or as the callable ``perflab.demo.busy:crunch``.
"""

from __future__ import annotations

import sys
import time

from perflab.demo.knob import slowed

_TEXT = ("the quick brown fox jumps over the lazy dog " * 40).encode()


def checksum(data: bytes) -> int:
    """Adler-like checksum in pure Python: the hot loop."""
    a, b = 1, 0
    for byte in data:
        a = (a + byte) % 65521
        b = (b + a) % 65521
    return (b << 16) | a


def tokenize(data: bytes) -> list[bytes]:
    words: list[bytes] = []
    for w in data.split():
        words.append(w.lower())
    return words


def summarize(words: list[bytes]) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for w in words[:200]:
        counts[w] = counts.get(w, 0) + 1
    return counts


@slowed
def crunch() -> int:
    """One unit of work, about 2 ms on a laptop core."""
    total = 0
    for _ in range(3):
        total ^= checksum(_TEXT)
    words = tokenize(_TEXT * 3)
    total ^= len(summarize(words))
    return total


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 3.0
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        crunch()
        n += 1
    print(f"crunched {n} times in {seconds:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
