"""Sorting demo: "my sort must beat the standard library above 10,000 elements".

``counting_sort`` is a pure-Python counting sort for integers in [0, 65536): it pays a fixed cost of 65,536
buckets, so it loses to ``sorted`` on small inputs and wins once the input is large enough. Where exactly the
cross-over lies is what ``profiles/sort.toml`` measures.
"""

from __future__ import annotations

import random

from perflab.demo.knob import slowed

KEY_RANGE = 1 << 16


def random_ints(n: int, seed: int = 42) -> list[int]:
    """``n`` pseudo-random integers in [0, 65536); the same list for the same ``n`` and ``seed``."""
    rng = random.Random(seed + n)
    return [rng.randrange(KEY_RANGE) for _ in range(n)]


@slowed
def counting_sort(values: list[int]) -> list[int]:
    """A new sorted list of ``values`` (integers in [0, 65536)); the input is not modified."""
    counts = [0] * KEY_RANGE
    for v in values:
        counts[v] += 1
    out: list[int] = []
    extend = out.extend
    for v, c in enumerate(counts):
        if c:
            extend([v] * c)
    return out


@slowed
def insertion_sort(values: list[int]) -> list[int]:
    """A new sorted list; quadratic, for small inputs only."""
    out = list(values)
    for i in range(1, len(out)):
        x = out[i]
        j = i - 1
        while j >= 0 and out[j] > x:
            out[j + 1] = out[j]
            j -= 1
        out[j + 1] = x
    return out


@slowed
def builtin_sort(values: list[int]) -> list[int]:
    """``sorted(values)``, wrapped so the slowdown knob reaches it too."""
    return sorted(values)
