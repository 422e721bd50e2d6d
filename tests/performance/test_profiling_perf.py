"""Profiling overhead: the live top-functions view and memray, A/B in one run.

The separate-run figures in the docs (measured figures) come from
``python tests/performance/profiling_overhead.py --rounds 8 --seconds 4``.
Here one short round runs (also under ``--benchmark-disable``) so the measurement itself stays working.
"""

from __future__ import annotations

import math

from tests.performance.profiling_overhead import measure


def test_profiling_overhead_smoke(benchmark) -> None:  # type: ignore[no-untyped-def]
    res = benchmark.pedantic(measure, args=(1, 1.0), rounds=1, iterations=1)
    row = res["rounds"][0]
    assert set(row) == {"plain", "live", "continuous", "memray", "memray_fast", "fixed_plain", "fixed_memray",
                        "fixed_memray_fast"}
    assert all(v > 0 and math.isfinite(v) for v in row.values())
    for key in ("live_cost", "continuous_cost", "memray_cost_busy", "memray_cost_fixed"):
        assert -1.0 < res[key] < 1.0, (key, res[key])


def test_alternating_live_view_smoke() -> None:
    """The same-run A/B of the live view (the full measurement: ``--alternate 40 --arms blocking,nonblocking``)."""
    import asyncio

    from tests.performance.profiling_overhead import alternate

    res = asyncio.run(alternate(2, 1.5, ("live", "blocking")))
    assert len(res["rounds"]) == 2 and all(set(r) == {"off", "live", "blocking"} for r in res["rounds"])
    assert all(v > 0 for r in res["rounds"] for v in r.values())
    for arm in ("live", "blocking"):
        assert len(res["ratios"][arm]) == 2 and -1.0 < res["cost"][arm] < 1.0
        lo, hi = res["cost_ci"][arm]
        assert lo <= res["cost"][arm] <= hi
        assert res["samples"][arm] > 50  # the real sampler ran: about 100 samples per second of phase
        assert max(res["shares"][arm], key=res["shares"][arm].get) == "checksum"
