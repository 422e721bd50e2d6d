"""lab.partial: a stopped run's result says it is partial and lists what was measured, in bounded memory."""

from __future__ import annotations

from perflab.core.model import Level, Note, Quantity, Result, Sample, Status, SummaryTable, Table, labels
from perflab.lab import partial


def _measured(events: list) -> partial.Measured:
    m = partial.Measured()
    for e in events:
        m.handle(e)
    return m


def test_a_result_without_figures_gets_the_streamed_tables_and_every_series() -> None:
    m = _measured([Sample(0.1 * i, "leak.traced", 1000.0 + i, labels(iteration=i)) for i in range(40)]
                  + [Table(2.0, "top functions", ("function", "own"), (("f", 3),)),
                     Table(3.0, "top functions", ("function", "own"), (("g", 7),))])
    r = partial.mark(Result(Status.INTERRUPTED, "stopped before the end"), m, 4.2)
    assert r.data["partial"] is True and r.message == partial.PARTIAL_MESSAGE
    assert [n.kind for n in r.notes] == ["run.partial"] and r.notes[0].level == Level.WARNING
    assert "stopped after 4.2 s" in r.notes[0].text
    top, series = r.tables
    assert top.title == "top functions (at the stop)" and top.rows == (("g", 7),)  # the latest version
    assert series.columns == partial.COLUMNS
    (row,) = series.rows  # the iteration label (40 values) merged away: one row
    assert row[:2] == ("leak.traced", 40)
    assert row[2:] == (Quantity(1000.0, "B"), Quantity(1039.0, "B"), Quantity(1000.0, "B"), Quantity(1019.5, "B"),
                       Quantity(1039.0, "B"))


def test_a_runner_own_partial_result_keeps_its_tables_and_note() -> None:
    own = Result(Status.INTERRUPTED, "stopped before the end (partial results)",
                 tables=(SummaryTable("load", ("endpoint",), (("all",),)),),
                 notes=(Note("Partial: stopped after 3 s of load", Level.WARNING, "load.partial"),),
                 data={"partial": True, "requests": 10})
    r = partial.mark(own, _measured([Sample(1.0, "load.rps", 5.0, labels(endpoint="all"))]), 3.0)
    assert r.tables == own.tables and r.notes == own.notes and r.message == own.message
    assert r.data == {"partial": True, "requests": 10}


def test_nothing_measured_is_said() -> None:
    r = partial.mark(Result(Status.INTERRUPTED, "interrupted"), partial.Measured(), 0.5)
    assert r.data["partial"] is True and not r.tables
    assert "nothing had been measured yet" in r.notes[0].text and r.message == "interrupted (partial results)"


def test_benchmark_rows_merge_processes_before_benchmarks() -> None:
    events = [Sample(1.0, "bench.round", 0.001 * (b + 1), labels(benchmark=f"b{b}", process=p))
              for b in range(10) for p in (1, 2, 3) for _ in range(2)]
    events.append(Sample(1.0, "bench.median", 0.001, labels(benchmark="b0", process=1)))
    events += [Sample(1.0, "proc.fds", 4, labels(role="target")), Sample(1.0, "proc.rss", 2e6, labels(role="target"))]
    rows = partial.series_table(_measured(events)).rows  # type: ignore[union-attr]
    names = [r[0] for r in rows]
    assert names == [f"bench.round{{benchmark=b{b}}}" for b in range(10)] + ["proc.rss{role=target}"]
    assert all(r[1] == 6 for r in rows[:10])


def test_memory_is_bounded_however_many_label_sets() -> None:
    m = _measured([Sample(float(i), "leak.rss", float(i), labels(iteration=i)) for i in range(5000)])
    assert len(m.series) == partial.MAX_SETS + 1
    rows = partial.series_table(m).rows  # type: ignore[union-attr]
    assert len(rows) == 1 and rows[0][1] == 5000 and rows[0][2] == Quantity(0.0, "B")
    assert rows[0][3] == Quantity(4999.0, "B")


def test_units_by_series_name() -> None:
    assert [partial.unit_of(s) for s in ("mem.heap", "proc.rss", "leak.traced", "load.latency.p95", "bench.round",
                                         "query.latency", "stress.p95", "load.rps", "conc.throughput",
                                         "stress.rate", "proc.cpu", "cpu.gil_share", "stress.error_rate",
                                         "load.users", "cpu.samples")] == [
        "B", "B", "B", "s", "s", "s", "s", "/s", "/s", "/s", "%", "%", "%", "count", "count"]
