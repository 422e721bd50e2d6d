"""A chatty target under perflab vs alone (tests/performance/output_drain.py; the figures come from
``python tests/performance/output_drain.py --rounds 7``). Here one small round keeps the measurement working."""

from __future__ import annotations

from tests.performance.output_drain import measure


def test_output_drain_smoke(benchmark) -> None:  # type: ignore[no-untyped-def]
    res = benchmark.pedantic(measure, kwargs={"rounds": 1, "mb": 8.0}, rounds=1, iterations=1)
    row = res["rounds"][0]
    assert row["exit"] == 0
    assert all(row[k] > 0 for k in ("devnull", "pipe", "file", "took", "quiet"))
    assert "log lines" in res["note"] and "not stored" in res["note"]  # 8 MB is over the 4 MiB budget
    assert row["store_bytes"] < 16e6
