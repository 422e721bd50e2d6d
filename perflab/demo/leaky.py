"""The classic "my data processing function uses more memory over time" case, and its fix.

``process_record`` memoises its result in a module-level cache keyed by a fresh key on every call, so
the cache never hits and never evicts: each call retains one 10 KiB (10,240-byte) payload for ever.
``process_record_fixed`` bounds the same cache (least recently used entries are evicted), so after the
first few calls memory stays flat.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

from perflab.demo.knob import slowed

PAYLOAD = 10_240  # bytes retained per call by the leaky version
FIXED_CAPACITY = 32  # entries the fixed cache keeps

_counter = itertools.count()
_cache: dict[int, bytes] = {}
_bounded: OrderedDict[int, bytes] = OrderedDict()


def _work(key: int) -> bytes:
    # the "processing": build a 10 KiB record from the key
    return (key.to_bytes(8, "little") * (PAYLOAD // 8))[:PAYLOAD]


@slowed
def process_record() -> int:
    """Process one record; leaks 10,240 bytes per call (the cache is keyed by a call counter)."""
    key = next(_counter)
    if key not in _cache:
        _cache[key] = _work(key)
    return len(_cache[key])


@slowed
def process_record_fixed() -> int:
    """The same work with a bounded LRU cache: no growth after the first ``FIXED_CAPACITY`` calls."""
    key = next(_counter)
    value = _bounded.get(key)
    if value is None:
        value = _work(key)
        _bounded[key] = value
        if len(_bounded) > FIXED_CAPACITY:
            _bounded.popitem(last=False)
    else:
        _bounded.move_to_end(key)
    return len(value)


def cache_size() -> int:
    """Entries held by the leaky cache (for tests)."""
    return len(_cache)
