"""A profiler's own writes from a monitored process: all left out (role -> what), or its byte count subtracted
(role -> {what, write_bytes}) so the process's own storage I/O still counts."""

from __future__ import annotations

from perflab.core.bottleneck import Bottleneck, classify_result

MIB = 1024 * 1024


def _mon(write_mib_s: float, wall: float = 10.0) -> dict[str, float]:
    return {"cpu_time": 0.3 * wall, "wall": wall, "read_bytes": 0.0, "write_bytes": write_mib_s * MIB * wall,
            "ctx_switches": 0.0, "first_rss": 50 * MIB, "last_rss": 50 * MIB, "peak_rss": 50 * MIB,
            "ticks": wall * 10}


def test_bytes_written_by_the_profiler_are_subtracted() -> None:
    data = {"monitor": {"server": _mon(3.0)},
            "profiler_io": {"server": {"what": "memray's capture", "write_bytes": 30 * MIB}}}
    c = classify_result(data, "server")
    assert c is not None and c.label is Bottleneck.MIXED and c.evidence["io_rate"] == 0.0
    assert "30 MiB of storage writes not counted: memray's capture" in c.describe()
    # without the record, the same writes make the server look I/O-bound
    plain = classify_result({"monitor": {"server": _mon(3.0)}}, "server")
    assert plain is not None and plain.label is Bottleneck.IO


def test_the_servers_own_writes_still_count() -> None:
    data = {"monitor": {"server": _mon(5.0)},
            "profiler_io": {"server": {"what": "memray's capture", "write_bytes": 20 * MIB}}}
    c = classify_result(data, "server")
    assert c is not None and c.label is Bottleneck.IO and c.evidence["io_rate"] == 3 * MIB


def test_a_profiler_that_wrote_more_than_the_monitor_saw_leaves_zero_not_less() -> None:
    data = {"monitor": {"server": _mon(1.0)},
            "profiler_io": {"server": {"what": "memray's capture", "write_bytes": 12 * MIB}}}
    c = classify_result(data, "server")
    assert c is not None and c.evidence["io_rate"] == 0.0
    assert "10 MiB of storage writes not counted" in c.describe()


def test_a_role_named_without_bytes_has_no_writes_counted() -> None:
    data = {"monitor": {"target": _mon(3.0)}, "profiler_io": {"target": "memray writes its capture"}}
    c = classify_result(data)
    assert c is not None and c.evidence["io_rate"] == 0.0
    assert "storage writes not counted: memray writes its capture" in c.describe()
