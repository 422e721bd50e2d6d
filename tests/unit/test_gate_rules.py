"""The wall-time gate's rules: p-values only where they can be significant, "unchanged" only when the interval
rules out a regression beyond the tolerance, calibration kept per benchmark only where it narrows the spread, an
inconclusive gate that says why and what to do (and fails with [gate] inconclusive = "fail"), the process
schedule of timed benchmarks, and the count table's wording. Pure: synthetic samples, no subprocess."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from perflab import cli
from perflab.core import machine, profiles, runplan
from perflab.core.compare import compare
from perflab.core.judge import judge
from perflab.core.model import Level, Metric, Result, Status, labels
from perflab.core.stats import GateSettings, Verdict, calibration_narrows, compare_samples, mwu_min_p
from perflab.report import compare as compare_report
from perflab.runners.benchmark import adaptive
from perflab.store import baselines as files
from perflab.store.baselines import Baseline

MED = Metric("median", 0, "s", labels(benchmark="b")).key()
REL = Metric("relative", 0, "ref", labels(benchmark="b")).key()
COUNT = Metric("instructions", 0, "count", labels(benchmark="b")).key()


def procs(center: float, n: int, *, spread: float, seed: int, rounds: int = 30, noise: float = 0.005
          ) -> list[list[float]]:
    """``n`` processes whose medians vary by about ``spread`` (relative sd) around ``center``."""
    rng = np.random.default_rng(seed)
    return [list(center * (1 + rng.normal(0, spread)) * (1 + rng.normal(0, noise, rounds))) for _ in range(n)]


# ------------------------------------------------------------------ p-values that can reach significance


def test_the_smallest_mann_whitney_p_depends_on_the_process_counts() -> None:
    assert mwu_min_p(3, 3) == pytest.approx(0.1)  # 2 / C(6, 3)
    assert mwu_min_p(3, 4) == pytest.approx(2 / 35)
    assert mwu_min_p(4, 4) == pytest.approx(2 / 70) and mwu_min_p(4, 4) < 0.05
    assert mwu_min_p(1, 10) == 1.0


def test_no_p_value_is_given_where_it_could_not_reach_significance() -> None:
    three = compare_samples(procs(1.0, 3, spread=0.01, seed=1), procs(1.3, 3, spread=0.01, seed=2))
    assert three.verdict == Verdict.SLOWER and three.p_value is None  # the interval decided it
    five = compare_samples(procs(1.0, 5, spread=0.01, seed=1), procs(1.3, 5, spread=0.01, seed=2))
    assert five.verdict == Verdict.SLOWER and five.p_value is not None and five.p_value < 0.05


# ------------------------------------------------------------------ "unchanged" needs a narrow interval


def test_unchanged_only_when_the_interval_rules_out_a_regression_beyond_the_tolerance() -> None:
    steady = compare_samples(procs(1.0, 5, spread=0.005, seed=3), procs(1.0, 5, spread=0.005, seed=4))
    assert steady.verdict == Verdict.UNCHANGED and steady.high <= 1.05 and not steady.inconclusive
    noisy = compare_samples(procs(1.0, 3, spread=0.06, seed=3), procs(1.0, 3, spread=0.06, seed=4))
    assert noisy.high > 1.05
    assert noisy.verdict == Verdict.UNSTABLE and noisy.inconclusive and noisy.unusable == ""
    assert "reaches beyond the 5 % tolerance" in noisy.reason and "not ruled out" in noisy.reason
    # the same data with a tolerance the interval fits in: decided
    wide = compare_samples(procs(1.0, 3, spread=0.06, seed=3), procs(1.0, 3, spread=0.06, seed=4),
                           GateSettings(tolerance=0.5))
    assert wide.verdict == Verdict.UNCHANGED


def test_for_rates_the_bad_side_is_the_low_one() -> None:
    spread = [[m * (1 + 0.001 * i) for i in range(10)] for m in (94.0, 100.0, 106.0)]  # ratio 1, wide interval
    noisy = compare_samples(spread, spread, higher_is_better=True)
    assert noisy.low < 0.95 < 1.05 < noisy.high and noisy.inconclusive
    steady = [[m * (1 + 0.001 * i) for i in range(10)] for m in (99.0, 100.0, 101.0)]
    assert compare_samples(steady, [[v * 1.02 for v in p] for p in steady], higher_is_better=True).verdict \
        in (Verdict.UNCHANGED, Verdict.FASTER)  # the good side reaching far is no reason to doubt


def test_an_unusable_side_is_named() -> None:
    one = compare_samples(procs(1.0, 1, spread=0.01, seed=1), procs(1.0, 3, spread=0.01, seed=2))
    assert one.verdict == Verdict.UNSTABLE and one.unusable == "baseline" and not one.inconclusive
    two = compare_samples(procs(1.0, 3, spread=0.01, seed=1), procs(1.0, 1, spread=0.01, seed=2))
    assert two.unusable == "candidate"


# ------------------------------------------------------------------ calibration, per benchmark


def _calibrated(drift: float, ref_noise: float, seed: int, n: int = 5, factor: float = 1.0
                ) -> tuple[list[list[float]], list[list[float]]]:
    """Rounds in seconds whose processes drift by ``drift`` (the machine's speed), and the same rounds divided by
    a reference loop that follows the drift and adds ``ref_noise`` of its own."""
    rng = np.random.default_rng(seed)
    secs, rel = [], []
    for _ in range(n):
        speed = 1 + rng.normal(0, drift)
        ref = speed * (1 + rng.normal(0, ref_noise))
        rounds = factor * speed * (1 + rng.normal(0, 0.003, 30))
        secs.append(list(rounds))
        rel.append(list(rounds / ref))
    return secs, rel


def test_calibration_is_kept_where_it_cancels_the_drift_and_dropped_where_it_adds_noise() -> None:
    bs, br = _calibrated(drift=0.08, ref_noise=0.005, seed=1)  # pure Python: the reference follows the drift
    cs, cr = _calibrated(drift=0.08, ref_noise=0.005, seed=2)
    keep, ratio = calibration_narrows((bs, cs), (br, cr))
    assert keep and ratio < 0.3
    c = compare({MED: bs, REL: br}, {MED: cs, REL: cr})
    assert [r.name for r in c.rows] == ["relative"]
    bs, br = _calibrated(drift=0.005, ref_noise=0.04, seed=3)  # C-heavy: steady, the reference only adds noise
    cs, cr = _calibrated(drift=0.005, ref_noise=0.04, seed=4)
    assert not calibration_narrows((bs, cs), (br, cr))[0]
    c = compare({MED: bs, REL: br}, {MED: cs, REL: cr})
    assert [r.name for r in c.rows] == ["median"]  # seconds, the unit of the results table


def test_a_calibrated_verdict_shows_the_change_in_seconds_and_says_when_they_disagree() -> None:
    bs, br = _calibrated(drift=0.08, ref_noise=0.002, seed=7)
    cs, cr = _calibrated(drift=0.08, ref_noise=0.002, seed=8, factor=1.3)
    cs = [[v * 0.5 for v in p] for p in cs]  # the machine ran twice as fast: seconds fell, reference units rose
    cr = [[v * 1.0 for v in p] for p in cr]
    c = compare({MED: bs, REL: br}, {MED: cs, REL: cr})
    row = c.rows[0]
    assert row.calibrated and row.verdict == Verdict.SLOWER and row.plain_ratio < 1
    assert "relative to the reference loop" in c.summary() and "in seconds" in c.summary()
    assert "(in s -" in compare_report.cells(row)[4]
    assert any(n.kind == "baseline.calibration" and "changed -" in n.text for n in c.notes())


# ------------------------------------------------------------------ the inconclusive gate


def _noisy_pair() -> tuple[dict, dict]:
    return ({MED: procs(1.0, 3, spread=0.06, seed=3)}, {MED: procs(1.0, 3, spread=0.06, seed=4)})


def test_an_inconclusive_gate_says_why_and_what_to_do_and_passes_by_default() -> None:
    base, cand = _noisy_pair()
    c = compare(base, cand)
    assert c.inconclusive and not c.failed
    assert c.summary().endswith(": 1 inconclusive")  # not "unstable": more data can decide it
    first = c.notes()[0]
    assert first.kind == "baseline.inconclusive" and first.level == Level.WARNING
    for advice in ("max_processes", "max_time", 'measure = \\"instructions\\"'.replace("\\", ""),
                   'inconclusive = "fail"', "intervals reach beyond the tolerance"):
        assert advice in first.text, advice
    assert compare_report.verdict_text(c.rows[0]).startswith("inconclusive (the 95 % interval")


def test_inconclusive_fail_fails_the_gate_and_the_run(tmp_path: Path) -> None:
    base, cand = _noisy_pair()
    c = compare(base, cand, settings=GateSettings(inconclusive="fail"))
    assert c.failed and not c.slower
    assert c.notes()[0].level == Level.ERROR and "failed" in c.notes()[0].text
    prof = _profile(tmp_path, '[gate]\ninconclusive = "fail"')
    here = machine.fingerprint()
    metrics = (Metric("median", 1.0, "s", labels(benchmark="b")),)
    b = Baseline("p", "benchmark", metrics, {k: tuple(map(tuple, v)) for k, v in base.items()}, machine=here,
                 created=1.0)
    out, _ = judge(prof, Result(Status.PASSED, "", metrics, raw=cand), b, "s", here)
    assert out.status == Status.FAILED and out.message.startswith("regression gate inconclusive")
    assert out.data["comparison"]["inconclusive"] is True
    out, _ = judge(_profile(tmp_path), Result(Status.PASSED, "", metrics, raw=cand), b, "s", here)
    assert out.status == Status.PASSED  # the default: "pass"


def test_a_baseline_too_noisy_to_judge_against_gets_its_own_advice() -> None:
    c = compare({MED: procs(1.0, 3, spread=0.3, seed=1)}, {MED: procs(1.0, 3, spread=0.01, seed=2)})
    assert c.inconclusive and c.rows[0].result.unusable == "baseline"
    assert "save it again" in c.notes()[0].text and "(nothing judged)" in c.notes()[0].text


def _profile(tmp_path: Path, gate: str = "", test: str = "") -> profiles.Profile:
    path = tmp_path / "p.toml"
    path.write_text(textwrap.dedent("""
        name = "p"
        [target]
        callable = "perflab.demo.sorting:counting_sort"
        [test]
        type = "benchmark"
        """) + test + "\n" + gate + "\n")
    return profiles.load(path)


@pytest.mark.parametrize(("gate", "message"), [
    ('inconclusive = "maybe"', 'gate.inconclusive: expected one of "pass", "fail"'),
    ("max_processes = 0", "gate.max_processes: expected a positive integer"),
    ('baseline_processes = "ten"', "gate.baseline_processes: expected a positive integer"),
])
def test_the_gate_keys_are_strict(tmp_path: Path, gate: str, message: str) -> None:
    with pytest.raises(profiles.ProfileError) as e:
        _profile(tmp_path, "[gate]\n" + gate)
    assert message in str(e.value) and str(e.value).count("\n") == 0


# ------------------------------------------------------------------ the process schedule of a timed run


def test_the_schedule_follows_the_baseline_and_the_policy(tmp_path: Path) -> None:
    prof = _profile(tmp_path, "[gate]\nmax_processes = 7\nbaseline_processes = 9", "processes = 3")
    none = adaptive.schedule(prof, None)
    assert (none.first, none.limit, none.saving) == (3, 3, False)  # nothing to compare with: a fixed count
    ref = adaptive.schedule(prof, runplan.RunPlan({MED: procs(1.0, 9, spread=0.01, seed=1)}))
    assert (ref.first, ref.limit) == (3, 7)
    save = adaptive.schedule(prof, runplan.RunPlan(None, saving=True))
    assert (save.first, save.limit, save.saving) == (9, 9, True)
    few = adaptive.schedule(_profile(tmp_path, "[gate]\nbaseline_processes = 2", "processes = 3"),
                            runplan.RunPlan(None, saving=True))
    assert few.first == 3  # never fewer than test.processes
    defaults = adaptive.schedule(_profile(tmp_path), runplan.RunPlan({MED: [[1.0]]}))
    assert (defaults.first, defaults.limit) == (3, 10)


def _result(raw: dict) -> Result:
    return Result(Status.PASSED, "", (Metric("median", 1.0, "s", labels(benchmark="b")),), raw=raw)


def test_processes_are_added_only_while_the_comparison_is_undecided_and_can_be_decided(tmp_path: Path) -> None:
    prof = _profile(tmp_path)
    base = procs(1.0, 10, spread=0.02, seed=1)
    sched = adaptive.schedule(prof, runplan.RunPlan({MED: base}))
    wide = [[m] * 10 for m in (0.92, 1.0, 1.08)]  # process medians 8 % apart: the interval cannot decide
    assert sched.undecided(_result({MED: wide})).startswith("1 of 1 comparisons")
    assert sched.undecided(_result({MED: procs(1.0, 8, spread=0.005, seed=3)})) == ""  # unchanged, decided
    assert sched.undecided(_result({MED: procs(1.5, 3, spread=0.01, seed=4)})) == ""  # slower, decided
    noisy_base = adaptive.schedule(prof, runplan.RunPlan({MED: procs(1.0, 3, spread=0.3, seed=5)}))
    assert noisy_base.undecided(_result({MED: wide})) == ""  # more candidate processes cannot fix the baseline
    assert adaptive.schedule(prof, None).undecided(_result({MED: base})) == ""


def test_another_process_must_fit_in_the_timeout() -> None:
    assert adaptive.fits(None, 1000.0, [50.0])
    assert adaptive.fits(100.0, 10.0, [])
    assert adaptive.fits(100.0, 40.0, [30.0]) and not adaptive.fits(100.0, 60.0, [30.0])


def test_the_process_count_is_explained_when_it_is_not_test_processes(tmp_path: Path) -> None:
    sched = adaptive.schedule(_profile(tmp_path), runplan.RunPlan({MED: [[1.0]]}))
    assert adaptive.note(sched, 3, "") is None
    limit = adaptive.note(sched, 10, "limit")
    assert limit is not None and limit.level == Level.WARNING and "max_processes" in limit.text
    assert "7 added one at a time" in limit.text
    decided = adaptive.note(sched, 5, "decided")
    assert decided is not None and decided.kind == "bench.processes" and "2 added" in decided.text
    timeout = adaptive.note(sched, 4, "timeout")
    assert timeout is not None and "timeout" in timeout.text
    saved = adaptive.note(adaptive.schedule(_profile(tmp_path), runplan.RunPlan(None, saving=True)), 10, "")
    assert saved is not None and "baseline_processes" in saved.text


def test_the_baseline_policy_gives_the_runner_its_plan(tmp_path: Path) -> None:
    from perflab.lab.baselines import BaselinePolicy, Baselines

    prof = _profile(tmp_path)
    plan = Baselines.prepare(BaselinePolicy(baseline_dir=str(tmp_path / "bl"), save=True), [prof])
    assert plan.baseline_for(prof) is None
    given = plan.run_plan(prof)
    assert given.saving and given.reference is None
    judged = Baselines.prepare(BaselinePolicy(baseline_dir=str(tmp_path / "bl")), [prof]).run_plan(prof)
    assert not judged.saving


def test_the_plan_reaches_the_runner_through_its_context(tmp_path: Path) -> None:
    from perflab.runners.framework.base import RunContext

    plan = runplan.RunPlan({MED: [[1.0]]}, saving=True)
    ctx = RunContext(session_id="s", emit=lambda e: None, artifacts_dir=tmp_path, plan=plan)
    assert ctx.plan is plan
    assert RunContext(session_id="s", emit=lambda e: None, artifacts_dir=tmp_path).plan is None


# ------------------------------------------------------------------ counts say counts; compare's default


def test_a_count_table_says_counts_with_a_range_and_no_p_column() -> None:
    m = (Metric("instructions", 1e6, "count", labels(benchmark="b")),)
    c = compare({COUNT: [[1e6], [1e6]]}, {COUNT: [[1.02e6], [1.0201e6]]}, base_metrics=m, cand_metrics=m,
                settings=GateSettings(tolerance=0.01))
    t = compare_report.table(c)
    assert "instruction counts" in t.title and "deterministic" in t.title and "0.25 %" in t.title
    assert t.columns == compare_report.COUNT_COLUMNS and "p (MWU)" not in t.columns
    assert not any("CI" in col or "time" in col for col in t.columns)
    assert len(t.rows[0]) == len(t.columns) and t.rows[0][-1] == "slower"
    assert len(compare_report.cells(c.rows[0])) == len(compare_report.COLUMNS)  # JUnit and Markdown index these
    assert compare_report.interval_label(c.rows[0]) == "range over processes"
    assert "(+2.0 % instructions)" in c.summary()


def _count_baseline(folder: Path, name: str, counts_per_process: list[float]) -> Path:
    m = (Metric("instructions", sum(counts_per_process) / len(counts_per_process), "count", labels(benchmark="b")),)
    b = Baseline(name, "benchmark", m, {COUNT: tuple((v,) for v in counts_per_process)},
                 machine=machine.fingerprint(), created=1.0)
    return files.write(b, folder / f"{name}.json")


@pytest.mark.parametrize(("rise", "code"), [(1.01, 1), (1.003, 0)])
def test_compare_defaults_to_the_count_gates_tolerance_for_counts(tmp_path: Path, rise: float, code: int,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    a = _count_baseline(tmp_path, "a", [5e6, 5e6])
    b = _count_baseline(tmp_path, "b", [5e6 * rise, 5e6 * rise])
    assert cli.main(["compare", str(a), str(b), "--json"]) == code  # 1 % fails at 0.5 %; it would pass at 5 %
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["tolerance"] == pytest.approx(0.005)
    assert cli.main(["compare", str(a), str(b), "--tolerance", "0.05"]) == 0


def test_saving_a_baseline_too_noisy_to_judge_against_says_so(tmp_path: Path) -> None:
    from perflab.lab.baselines import BaselinePolicy, Baselines

    prof = _profile(tmp_path)
    plan = Baselines.prepare(BaselinePolicy(baseline_dir=str(tmp_path / "bl"), save=True), [prof])
    metrics = (Metric("median", 1.0, "s", labels(benchmark="b")), Metric("relative", 1.0, "ref", labels(benchmark="b")))
    noisy = {MED: [[m] * 5 for m in (0.7, 1.0, 1.5)], REL: [[m] * 5 for m in (0.8, 1.0, 1.3)]}
    d = plan.after(prof, Result(Status.PASSED, "", metrics, raw=noisy), None, "s1", git={})
    assert d is not None and d.level == Level.WARNING and not d.failed
    assert d.message.startswith("baseline written: ") and "vary more than [gate] max_cv for b:" in d.message
    calibrated = {MED: noisy[MED], REL: [[m] * 5 for m in (0.99, 1.0, 1.01)]}  # calibration makes it usable
    d = plan.after(prof, Result(Status.PASSED, "", metrics, raw=calibrated), None, "s2", git={})
    assert d is not None and d.level == Level.INFO and d.message.startswith("baseline written: ")
