"""core.thresholds: k6-style expressions, units, errors that point at the bad token, final and live checks."""

from __future__ import annotations

import pytest

from perflab.core import profiles, testtypes, thresholds
from perflab.core.model import Level, Metric, Notice, Result, Sample, Status, labels
from perflab.core.thresholds import ThresholdError, ThresholdWatcher


@pytest.mark.parametrize(("text", "metric", "op", "value"), [
    ("p95 < 500ms", "p95", "<", 0.5),
    ("mean < 2ms", "mean", "<", 0.002),
    ("median<=3us", "median", "<=", 3e-6),
    ("median < 250 ns", "median", "<", 250e-9),
    ("error_rate < 1%", "error_rate", "<", 0.01),
    ("rps >= 200", "rps", ">=", 200.0),
    ("rps > 1_000/s", "rps", ">", 1000.0),
    ("peak_rss < 200MB", "peak_rss", "<", 200e6),
    ("peak_rss < 1.5 GiB", "peak_rss", "<", 1.5 * 1024**3),
    ("total_allocated < 64KiB", "total_allocated", "<", 65536.0),
    ("ratio(builtins:sorted) < 0.9", "ratio", "<", 0.9),
])
def test_parse_converts_to_si_units(text: str, metric: str, op: str, value: float) -> None:
    t = thresholds.parse(text)
    assert (t.metric, t.op) == (metric, op)
    assert t.value == pytest.approx(value)


@pytest.mark.parametrize(("text", "needle"), [
    ("p95 < 5mz", 'bad unit "mz" at column 8'),
    ("p95 500ms", 'expected one of < <= > >=, found "500ms" at column 5'),
    ("p95 < fast", 'expected a number, found "fast" at column 7'),
    ("error_rate < 3ms", 'unit "ms" does not fit error_rate (a ratio) at column 15'),
    ("p95 < 5ms extra", 'unexpected "extra"'),
    ("ratio(builtins:sorted < 1", 'unclosed "("'),
    ("< 5ms", "expected a metric name"),
    ("median{benchmark} < 1s", "bad label selector"),
])
def test_bad_expressions_point_at_the_token(text: str, needle: str) -> None:
    with pytest.raises(ThresholdError) as e:
        thresholds.parse(text)
    assert needle in str(e.value)


def test_check_rejects_a_metric_the_test_type_does_not_produce() -> None:
    bench = testtypes.get("benchmark")
    assert thresholds.check("median < 1ms", bench) is None
    problem = thresholds.check("rps > 10", bench)
    assert problem is not None and "no metric 'rps'" in problem


def test_profile_errors_name_the_threshold_key_path() -> None:
    text = """
name = "t"
thresholds = ["median < 1ms", "p95 < 5mz", "rps > 3"]
[target]
callable = "perflab.demo.sorting:counting_sort"
input = "perflab.demo.sorting:random_ints"
[test]
type = "benchmark"
n = [10]
"""
    with pytest.raises(profiles.ProfileError) as e:
        profiles.parse(text, "t.toml")
    lines = str(e.value).splitlines()
    assert any("thresholds[1]" in x and 'bad unit "mz"' in x for x in lines)
    assert any("thresholds[2]" in x and "no metric 'rps'" in x for x in lines)
    assert not any("thresholds[0]" in x for x in lines)


def _profile(*ths: str):
    text = "\n".join([
        'name = "t"', "thresholds = [" + ", ".join(f'"{t}"' for t in ths) + "]",
        "[target]", 'callable = "perflab.demo.sorting:counting_sort"', 'input = "perflab.demo.sorting:random_ints"',
        "[test]", 'type = "benchmark"', "n = [10]", 'compare = ["builtins:sorted"]'])
    return profiles.parse(text, "t.toml")


RESULT = Result(Status.PASSED, metrics=(
    Metric("median", 0.004, "s", labels(benchmark="counting_sort[n=10]")),
    Metric("median", 0.001, "s", labels(benchmark="sorted[n=10]")),
    Metric("ratio", 4.0, "ratio", labels(benchmark="counting_sort[n=10]", vs="builtins:sorted", group="n=10")),
))


def test_apply_passes_and_notes_each_evaluation() -> None:
    out = thresholds.apply(_profile("median < 5ms"), RESULT)
    assert out.status == Status.PASSED
    assert [(n.kind, n.level) for n in out.notes] == [("threshold.ok", Level.INFO)] * 2
    assert all(n.text.startswith("threshold ok: median < 5ms") for n in out.notes)


def test_apply_fails_on_a_breach_with_the_numbers() -> None:
    out = thresholds.apply(_profile("ratio(builtins:sorted) < 0.9", "median{benchmark=sorted[n=10]} < 5ms"), RESULT)
    assert out.status == Status.FAILED
    assert "ratio(builtins:sorted) < 0.9" in out.message and "4" in out.message
    breach = [n for n in out.notes if n.kind == "threshold.breach"]
    assert len(breach) == 1 and "vs=builtins:sorted" in breach[0].text and breach[0].level == Level.ERROR
    assert [t["passed"] for t in out.data["thresholds"]] == [False, True]


def test_a_threshold_that_matches_nothing_is_reported_not_passed() -> None:
    out = thresholds.apply(_profile("ratio(nothing:here) < 2"), RESULT)
    assert out.status == Status.PASSED
    assert [n.kind for n in out.notes] == ["threshold.unmatched"] and "not evaluated" in out.notes[0].text


def test_live_watcher_emits_one_notice_per_breaching_series() -> None:
    emitted: list = []
    w = ThresholdWatcher(_profile("median < 2ms"), emitted.append, lambda: 1.5)
    lb = labels(benchmark="x", process=1)
    w.handle(Sample(0.1, "bench.median", 0.001, lb))  # fine
    w.handle(Sample(0.2, "bench.median", 0.003, lb))  # breach
    w.handle(Sample(0.3, "bench.median", 0.004, lb))  # same series: already reported
    w.handle(Sample(0.4, "bench.round", 0.009, lb))  # another metric
    assert len(emitted) == 1
    n = emitted[0]
    assert isinstance(n, Notice) and n.code == "threshold.breach" and "3 ms" in n.message


def test_predicates_parse_to_required_thresholds() -> None:
    from perflab.core import thresholds as th

    t = th.parse('uses_index("idx_orders_customer")')
    assert (t.metric, t.arg, t.op, t.value, t.required) == ("uses_index", "idx_orders_customer", ">=", 1.0, True)
    t = th.parse("no_full_scan")
    assert (t.metric, t.op, t.value, t.required) == ("full_scans", "<", 1.0, True)
    with pytest.raises(th.ThresholdError, match="needs the index name"):
        th.parse("uses_index")


def test_a_predicate_without_its_metric_is_a_breach_not_skipped() -> None:
    from perflab.core import thresholds as th
    from perflab.core.model import Metric, labels

    used = (Metric("uses_index", 1.0, "count", labels(index="idx_a")), Metric("full_scans", 0.0, "count"))
    ok, missing = th.evaluate(('uses_index("idx_a")', 'uses_index("idx_b")'), used)
    assert ok.passed is True
    assert missing.passed is False and "breach" in missing.describe()
    (scan,) = th.evaluate(("no_full_scan",), (Metric("full_scans", 2.0, "count"),))
    assert scan.passed is False
    # an ordinary threshold with no metric stays "not evaluated"
    (plain,) = th.evaluate(("p95 < 1ms",), used)
    assert plain.passed is None


@pytest.mark.parametrize("expr", ["p95 < 1e999ms", "rps >= 1e400", "p95 < -1e309 s"])
def test_a_limit_out_of_float_range_is_refused_at_its_column(expr: str) -> None:
    from perflab.core import thresholds as th

    with pytest.raises(th.ThresholdError, match=r"^number out of range at column \d+$"):
        th.parse(expr)
    assert th.parse("p95 < 1e300 s").value == 1e300  # large but finite is a limit like any other
