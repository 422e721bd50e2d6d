"""The gate for counts (measure = "instructions"): deterministic, chosen by the metric's unit; thresholds and
profiles agree on count units; callgrind dumps are read into totals and self instructions per function."""

from __future__ import annotations

from pathlib import Path

import pytest

from perflab.core import counts, params, thresholds, units
from perflab.core.compare import compare
from perflab.core.model import Metric, labels
from perflab.core.stats import GateSettings, Verdict
from perflab.runners.benchmark.instructions import bench_name, read_dump

TOL = GateSettings(tolerance=0.01)
KEY = Metric("instructions", 0, "count", labels(benchmark="b")).key()


def procs(*values: float) -> tuple[tuple[float, ...], ...]:
    return tuple((v,) for v in values)


def test_one_percent_more_instructions_is_slower() -> None:
    r = counts.compare_counts(procs(1_000_000, 1_000_010), procs(1_012_000, 1_012_000), TOL)
    assert r.verdict == Verdict.SLOWER
    assert r.ratio == pytest.approx(1.012, rel=1e-4)


def test_a_change_within_the_tolerance_is_unchanged_and_a_drop_is_faster() -> None:
    assert counts.compare_counts(procs(1e6, 1e6), procs(1.009e6, 1.009e6), TOL).verdict == Verdict.UNCHANGED
    assert counts.compare_counts(procs(1e6, 1e6), procs(0.98e6, 0.98e6), TOL).verdict == Verdict.FASTER


def test_processes_disagreeing_by_more_than_a_quarter_of_the_tolerance_are_unstable_with_the_reason() -> None:
    r = counts.compare_counts(procs(1e6, 1.003e6), procs(1.05e6, 1.05e6), TOL)
    assert r.verdict == Verdict.UNSTABLE
    assert "baseline processes disagree by 0.3 %" in r.reason and "quarter" in r.reason
    ok = counts.compare_counts(procs(1e6, 1.002e6), procs(1.05e6, 1.05e6), TOL)
    assert ok.verdict == Verdict.SLOWER


def test_a_tiny_benchmark_never_fails_on_a_few_hundred_instructions_of_harness_noise() -> None:
    r = counts.compare_counts(procs(28_955, 28_955), procs(29_316, 29_316), TOL)  # +1.2 %, 361 instructions
    assert r.verdict == Verdict.UNCHANGED and "harness noise" in r.reason
    assert counts.compare_counts(procs(28_955, 29_316), procs(28_955, 28_955), TOL).verdict == Verdict.UNCHANGED
    assert counts.compare_counts(procs(50_000, 50_000), procs(52_000, 52_000), TOL).verdict == Verdict.SLOWER


def test_one_process_or_a_zero_baseline_is_unstable() -> None:
    assert counts.compare_counts(procs(1e6), procs(1e6, 1e6), TOL).verdict == Verdict.UNSTABLE
    assert counts.compare_counts(procs(0, 0), procs(1e6, 1e6), TOL).verdict == Verdict.UNSTABLE


def test_compare_chooses_the_count_branch_by_unit() -> None:
    m = [Metric("instructions", 1e6, "count", labels(benchmark="b"))]
    base, cand = {KEY: procs(1e6, 1e6)}, {KEY: procs(1.02e6, 1.02e6)}
    c = compare(base, cand, base_metrics=m, cand_metrics=m, settings=TOL)
    assert c.failed and c.rows[0].verdict == Verdict.SLOWER and c.rows[0].result.p_value is None
    # the same two-sample data judged as times (one round per process) cannot be judged at all
    t = Metric("median", 1e6, "s", labels(benchmark="b"))
    tk = t.key()
    c2 = compare({tk: procs(1e6, 1e6)}, {tk: procs(1.02e6, 1.02e6)}, base_metrics=[t], cand_metrics=[t],
                 settings=TOL)
    assert c2.rows[0].verdict == Verdict.UNSTABLE


def test_where_notes_name_the_top_functions_of_a_slower_benchmark() -> None:
    data = {"instructions": {"benchmarks": [{"name": "b", "total": 1000, "top": [["f", 600], ["g", 300]]}]}}
    assert [n.text for n in counts.where_notes(["b"], data)] == [
        "top functions of b (self instructions): f 60.0 %, g 30.0 %"]
    assert counts.where_notes(["other"], data) == []


@pytest.mark.parametrize(("text", "value"), [("instructions < 2M", 2e6), ("instructions < 1.5k", 1500.0),
                                             ("instructions <= 3G", 3e9), ("instructions < 2000000", 2e6)])
def test_count_thresholds_parse(text: str, value: float) -> None:
    assert thresholds.parse(text).value == pytest.approx(value)


@pytest.mark.parametrize("unit", units.units_of(units.Kind.COUNT))
def test_a_count_unit_means_the_same_in_units_and_a_threshold(unit: str) -> None:
    assert units.parse(f"2{unit}", units.Kind.COUNT) == pytest.approx(thresholds.parse(f"instructions < 2{unit}").value)


def test_count_units_do_not_fit_times_and_sizes_still_parse() -> None:
    with pytest.raises(thresholds.ThresholdError, match="does not fit instructions"):
        thresholds.parse("instructions < 2ms")
    assert params.duration("2m") == pytest.approx(120.0)  # "m" stays minutes; "M" is a count
    assert params.size("2MB") == pytest.approx(2e6)


DUMP = """# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 7
part: 2
desc: Trigger: Client Request: tests/test_x.py::test_perflab[counting_sort[n=100]]
positions: line
events: Ir
summary: 0
totals: 1150

ob=(1) /lib/libpython.so
fl=(1) ceval.c
fn=(1) _PyEval_EvalFrameDefault
10 500
+2 100
cfn=(2) list_sort_impl
calls=1 5
* 400
fn=(2)
5 400
cfn=(3) pthread_create@@GLIBC_2.34
calls=1 0
0 150
fn=(3)
0 150
"""


def test_read_dump_totals_self_instructions_and_spawns(tmp_path: Path) -> None:
    path = tmp_path / "cg.7.out.2"
    path.write_text(DUMP, encoding="utf-8")
    d = read_dump(path)
    assert d is not None
    assert d.total == 1150
    assert d.functions == {"_PyEval_EvalFrameDefault": 600, "list_sort_impl": 400, "pthread_create@@GLIBC_2.34": 150}
    assert sum(d.functions.values()) == d.total  # self costs add up to the total
    assert d.spawns == {"pthread_create@@GLIBC_2.34"}
    assert bench_name(d.uri) == "counting_sort[n=100]"
    assert bench_name("t.py::TestA::test_b[1]") == "test_b[1]"


def test_read_dump_skips_metadata_and_termination_dumps(tmp_path: Path) -> None:
    meta = tmp_path / "cg.1.out.1"
    meta.write_text("desc: Trigger: Client Request: Metadata: pytest-codspeed 5.0.4\ntotals: 0\n", encoding="utf-8")
    end = tmp_path / "cg.1.out"
    end.write_text("desc: Trigger: Program termination\ntotals: 0\n", encoding="utf-8")
    assert read_dump(meta) is None and read_dump(end) is None


PROFILE = """\
name = "p"
{top}
[target]
callable = "json:dumps"
args = [1]

[test]
type = "benchmark"
{test}
"""


def test_the_instructions_measure_defaults_to_a_half_percent_tolerance_and_an_explicit_one_wins() -> None:
    from perflab.core import profiles

    assert profiles.parse(PROFILE.format(top="", test='measure = "instructions"')).tolerance == pytest.approx(0.005)
    assert profiles.parse(PROFILE.format(top='tolerance = "3%"', test='measure = "instructions"')).tolerance \
        == pytest.approx(0.03)
    assert profiles.parse(PROFILE.format(top="", test="")).tolerance == pytest.approx(0.05)


def test_a_wrong_measure_is_refused_naming_the_choices() -> None:
    from perflab.core import profiles

    with pytest.raises(profiles.ProfileError, match='one of "time", "instructions"'):
        profiles.parse(PROFILE.format(top="", test='measure = "cycles"'))


def test_memray_or_tracemalloc_are_never_combined_with_counting() -> None:
    import shutil

    from perflab.core import profiles
    from perflab.core.model import ExitCode, PerflabError
    from perflab.runners.benchmark.instructions import check_tools

    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    p = profiles.parse(PROFILE.format(top="", test='measure = "instructions"\npytest_args = ["--memray"]'))
    with pytest.raises(PerflabError, match="cannot be combined with memray or tracemalloc") as e:
        check_tools(p, {"PATH": "/usr/bin:/bin"})
    assert e.value.exit_code == ExitCode.BAD_INPUT
    with pytest.raises(PerflabError, match=r"apt-get install valgrind"):
        check_tools(p, {"PATH": "/nonexistent"})
