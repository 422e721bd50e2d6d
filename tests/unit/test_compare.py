"""core.compare and the reports built on it (table, Markdown, JUnit XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from perflab.core.compare import compare
from perflab.core.model import Level, Metric, Note, Result, Status, labels
from perflab.core.stats import GateSettings, Verdict
from perflab.report import compare as compare_report
from perflab.report import junit, markdown
from perflab.report.markdown import ProfileReport

FAST = Metric("median", 0, "s", labels(benchmark="fast[n=10]")).key()
SLOW = Metric("median", 0, "s", labels(benchmark="slow[n=10]")).key()


def procs(center: float, seed: int, n: int = 5) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [list(center * (1 + rng.normal(0, 0.01)) * (1 + rng.normal(0, 0.02, 50))) for _ in range(n)]


def metrics(raw: dict) -> tuple[Metric, ...]:
    return tuple(Metric("median", float(np.median(v[0])), "s", (("benchmark", k[k.index("=") + 1:-1]),))
                 for k, v in raw.items())


def test_verdicts_per_metric_and_gate_outcome() -> None:
    base = {FAST: procs(1e-3, 1), SLOW: procs(2e-3, 2)}
    cand = {FAST: procs(1e-3, 3), SLOW: procs(2.3e-3, 4)}
    c = compare(base, cand, base_metrics=metrics(base), cand_metrics=metrics(cand))
    verdicts = {r.subject: r.verdict for r in c.rows}
    assert verdicts == {"fast[n=10]": Verdict.UNCHANGED, "slow[n=10]": Verdict.SLOWER}
    assert c.failed
    assert "slow[n=10] (+1" in c.summary()
    first = c.notes()[0]
    assert first.text.startswith("regression gate failed")
    assert (first.level, first.kind) == (Level.ERROR, "baseline.slower")


def test_unstable_never_fails_the_gate_and_missing_metrics_are_listed() -> None:
    base = {FAST: [[1.0] * 50], SLOW: procs(1e-3, 5)}
    cand = {FAST: [[9.0] * 50, [9.0] * 50]}
    c = compare(base, cand)
    assert [r.verdict for r in c.rows] == [Verdict.UNSTABLE]
    assert not c.failed
    assert c.missing == (SLOW,)
    notes = c.notes()
    assert any("one process only" in n.text and n.kind == "baseline.unstable" for n in notes)
    assert notes[0].text.startswith("regression gate inconclusive") and notes[0].level == Level.WARNING
    assert notes[-1] == Note(f"not measured this time: {SLOW}", Level.WARNING, "baseline.missing")


def test_not_comparable_metrics_are_never_judged() -> None:
    base = {FAST: procs(1e-3, 6)}
    cand = {FAST: procs(5e-3, 7)}
    m = (Metric("median", 1e-3, "s", labels(benchmark="fast[n=10]"), comparable=False),)
    c = compare(base, cand, base_metrics=m, cand_metrics=m)
    assert c.rows[0].verdict == Verdict.UNSTABLE and "not comparable" in c.rows[0].result.reason


def test_machine_differences_are_reported() -> None:
    base = {FAST: procs(1e-3, 8)}
    here = {"cpu": "A", "cores": 2, "python": "3.11.7"}
    there = {"cpu": "B", "cores": 2, "python": "3.12.1"}
    c = compare(base, base, base_machine=there, cand_machine=here)
    assert c.machine_differences == ("cpu: B vs A", "python: 3.12.1 vs 3.11.7")
    warned = [n for n in c.notes() if n.kind == "baseline.machine"]
    assert len(warned) == 1 and warned[0].level == Level.WARNING
    assert warned[0].text.startswith("WARNING: the baseline was taken on another machine")


def test_summary_only_baseline_is_judged_on_process_medians() -> None:
    base = {FAST: [[1e-3], [1.01e-3], [0.99e-3], [1e-3], [1.005e-3]]}
    cand = {FAST: procs(1.3e-3, 9)}
    c = compare(base, cand, baseline_summary_only=True)
    assert c.rows[0].verdict == Verdict.SLOWER
    assert compare(base, cand).rows[0].verdict == Verdict.UNSTABLE  # without the flag: too few rounds


def test_reports_carry_the_numbers_and_junit_parses() -> None:
    base = {FAST: procs(1e-3, 10), SLOW: procs(2e-3, 11)}
    cand = {FAST: procs(1e-3, 12), SLOW: procs(2.4e-3, 13)}
    c = compare(base, cand, settings=GateSettings(tolerance=0.05))
    t = compare_report.table(c)
    slow_row = next(r for r in t.rows if r[0] == "slow[n=10]")
    assert slow_row[-1] == "slower" and slow_row[4].startswith("+") and ".." in slow_row[5]
    result = Result(Status.FAILED, "regression", data={
        "benchmarks": [{"name": "fast[n=10]"}, {"name": "slow[n=10]"}],
        "thresholds": [{"threshold": "median < 1ms", "metric": SLOW, "value": 0.0024, "limit": 0.001,
                        "passed": False}]})
    rep = ProfileReport("sort", "s1", result, 1, 12.5, c)
    md = markdown.render([rep])
    assert "| slow[n=10] | median |" in md and "slower" in md and "FAILED" in md
    root = junit.build([rep])
    xml = ET.fromstring(ET.tostring(root))
    assert xml.tag == "testsuites"
    suite = xml.find("testsuite")
    assert suite is not None and suite.get("name") == "sort"
    failures = {tc.get("name"): tc.find("failure") for tc in suite.iter("testcase")}
    assert failures["slow[n=10]"] is not None and "slower" in failures["slow[n=10]"].get("message", "")
    assert failures["fast[n=10]"] is None
    assert failures["regression gate"] is not None
    assert any(name.startswith("median < 1ms") and f is not None for name, f in failures.items())
    assert int(xml.get("failures")) == 3 and int(xml.get("tests")) == 5


def test_a_slower_instruction_count_says_range_not_ci_in_junit_and_json() -> None:
    from perflab.report.documents import comparison_row

    count = Metric("instructions", 0, "count", labels(benchmark="b")).key()
    m = (Metric("instructions", 1e6, "count", labels(benchmark="b")),)
    c = compare({count: [[1e6], [1e6]]}, {count: [[1.02e6], [1.0201e6]]}, base_metrics=m, cand_metrics=m,
                settings=GateSettings(tolerance=0.01))
    assert c.failed
    rep = ProfileReport("sort", "s1", Result(Status.FAILED, "regression", data={"benchmarks": [{"name": "b"}]}),
                        1, 1.0, c)
    xml = ET.fromstring(ET.tostring(junit.build([rep])))
    failure = next(tc.find("failure") for tc in xml.iter("testcase") if tc.get("name") == "b")
    assert failure is not None
    assert "range over processes" in failure.get("message", "") and "CI" not in failure.get("message", "")
    row = comparison_row(c.rows[0])
    assert row["inconclusive"] is False and row["plain_ratio"] is None
