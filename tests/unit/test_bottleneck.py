"""Bottleneck labels from monitor totals (synthetic, with known answers) and the load-limit rule."""

from __future__ import annotations

import pytest

from perflab.core.bottleneck import Bottleneck, LoadLimit, classify, classify_result, load_limit

MIB = 1024 * 1024


def mon(cpu: float, wall: float = 10.0, io: float = 0.0, ctx: float = 0.0, first: float = 50 * MIB,
        last: float = 50 * MIB) -> dict[str, float]:
    return {"cpu_time": cpu * wall, "wall": wall, "read_bytes": io * wall, "write_bytes": 0.0,
            "ctx_switches": ctx * wall, "first_rss": first, "last_rss": last, "peak_rss": max(first, last),
            "ticks": wall * 10}


@pytest.mark.parametrize(("monitor", "shares", "label"), [
    (mon(0.98), None, Bottleneck.CPU),
    (mon(1.9), None, Bottleneck.CPU),  # two processes, both busy
    (mon(0.02), None, Bottleneck.IDLE),
    (mon(0.2, io=20 * MIB), None, Bottleneck.IO),
    (mon(0.3, ctx=2000), None, Bottleneck.IO),
    (mon(0.5), None, Bottleneck.MIXED),
    (mon(0.9, first=50 * MIB, last=400 * MIB), None, Bottleneck.MEMORY),
    (mon(0.9, first=10 * MIB, last=60 * MIB), None, Bottleneck.CPU),  # start-up imports, not memory-bound
    (mon(0.9, first=2000 * MIB, last=2150 * MIB), None, Bottleneck.CPU),  # +7.5 % of a big process
    (mon(0.9, first=300 * MIB, last=330 * MIB), None, Bottleneck.CPU),  # +10 % is not memory-bound
    (mon(1.0), {"gil_share": 0.3, "idle_share": 0.1, "active_threads": 4.0}, Bottleneck.CONTENDED),
    (mon(1.0), {"gil_share": 0.3, "idle_share": 0.1, "active_threads": 1.0}, Bottleneck.CPU),
    (mon(1.0), {"gil_share": 0.95, "idle_share": 0.0}, Bottleneck.CPU),
    (mon(0.98, wall=0.1), None, Bottleneck.UNKNOWN),
    (mon(0.3), {"idle_share": 0.02, "gil_share": 0.99}, Bottleneck.STARVED),  # busy but starved of cores
    (mon(0.3), {"idle_share": 0.9, "gil_share": 0.99}, Bottleneck.MIXED),
])
def test_labels(monitor: dict[str, float], shares: dict[str, float] | None, label: Bottleneck) -> None:
    c = classify(monitor, shares)
    assert c.label is label


def test_description_carries_the_evidence() -> None:
    text = classify(mon(0.2, io=20 * MIB), None).describe()
    assert text.startswith("I/O-bound: cpu 0.20 cores over 10.0 s")
    assert "20 MiB/s" in text and "storage I/O" in text
    shares = classify(mon(1.0), {"gil_share": 0.3, "idle_share": 0.1}).describe()
    assert "GIL held 30.0 % of active samples" in shares and "idle threads 10.0 %" in shares


def test_classify_result_reads_engine_data() -> None:
    assert classify_result({}) is None
    c = classify_result({"monitor": {"target": mon(0.99)}, "threads": {"gil_share": 0.99}})
    assert c is not None and c.label is Bottleneck.CPU and c.evidence["gil_share"] == 0.99


def test_load_limit() -> None:
    # 10 -> 40 users: throughput x3.8, latency about flat: each request's latency is the limit
    assert load_limit([(10, 100, 0.1), (40, 380, 0.105)]).limit is LoadLimit.LATENCY
    # throughput flat, latency x4: queueing
    q = load_limit([(10, 500, 0.02), (40, 520, 0.077)])
    assert q.limit is LoadLimit.THROUGHPUT and "requests queue" in q.describe()
    assert load_limit([(10, 100, 0.1)]).limit is LoadLimit.UNKNOWN


def test_annotate_adds_label_and_load_limit_notes() -> None:
    from perflab.core.bottleneck import annotate
    from perflab.core.model import Result, Status

    r = Result(Status.PASSED, data={"monitor": {"server": mon(0.99)},
                                    "levels": [(5, 100.0, 0.05), (10, 105.0, 0.095), (20, 104.0, 0.19)]})
    out = annotate(r)
    assert out.data["bottleneck"]["server"]["label"] == "CPU-bound"
    assert out.data["load_limit"]["limit"] == "throughput"
    assert any(n.kind == "load.limit" and n.text.startswith("load limit: throughput") for n in out.notes)
    assert any(n.kind == "bottleneck" and n.text.startswith("bottleneck (server): CPU-bound: cpu 0.99 cores")
               for n in out.notes)
    # an interrupted run is left alone
    assert annotate(Result(Status.INTERRUPTED, data=r.data)).notes == ()
