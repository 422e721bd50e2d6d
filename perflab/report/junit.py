"""JUnit XML: one test suite per profile; each benchmark, threshold and gate a test case.

Failures carry the numbers (baseline, this run, change, confidence interval); unstable comparisons are
``skipped`` with the reason, because they neither pass nor fail a gate.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from perflab.core import redact
from perflab.core.stats import Verdict
from perflab.report import compare as compare_report
from perflab.report import values
from perflab.report.markdown import ProfileReport


def _case(suite: ET.Element, classname: str, name: str, time: float = 0.0) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{time:.3f}")


def build(reports: Sequence[ProfileReport]) -> ET.Element:
    root = ET.Element("testsuites", name="perflab")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for r in reports:
        suite = ET.SubElement(root, "testsuite", name=r.profile, timestamp="", time=f"{r.duration:.3f}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        run = _case(suite, f"perflab.{r.profile}", "run", r.duration)
        counts["tests"] += 1
        status = r.result.status.value
        if status not in ("passed", "failed"):
            partial = [n.text for n in r.result.notes if n.kind.endswith(".partial")]  # a stopped run's figures
            ET.SubElement(run, "error", message=r.result.message or status, type=status).text = \
                "\n".join([r.result.message, *partial]).strip()
            counts["errors"] += 1
        bench_names = [str(b.get("name")) for b in (r.result.data.get("benchmarks") or [])]
        compared = {row.subject: row for row in (r.comparison.rows if r.comparison else ())}
        for name in bench_names or list(compared):
            case = _case(suite, f"perflab.{r.profile}.benchmark", name)
            counts["tests"] += 1
            row = compared.get(name)
            if row is None:
                continue
            c = values.row(compare_report.cells(row))
            label = compare_report.interval_label(row)
            text = (f"{row.key}: baseline {c[2]}, this run {c[3]}, change {c[4]}, {label} {c[5]}, "
                    f"p {c[6]}: {row.verdict.value}")
            if row.verdict == Verdict.SLOWER:
                ET.SubElement(case, "failure", message=f"slower: {c[4]} ({label} {c[5]})",
                              type="regression").text = text
                counts["failures"] += 1
            elif row.verdict == Verdict.UNSTABLE:
                ET.SubElement(case, "skipped", message=f"unstable: {row.result.reason}")
                counts["skipped"] += 1
            else:
                ET.SubElement(case, "system-out").text = text
        for t in r.result.data.get("thresholds") or []:
            case = _case(suite, f"perflab.{r.profile}.threshold", f"{t['threshold']} [{t.get('metric') or '-'}]")
            counts["tests"] += 1
            if t.get("passed") is False:
                ET.SubElement(case, "failure", message=f"threshold breach: {t['threshold']}: {t.get('metric')} = "
                              f"{t.get('value')!r} (limit {t.get('limit')!r}, SI units)", type="threshold")
                counts["failures"] += 1
            elif t.get("passed") is None:
                ET.SubElement(case, "skipped", message="no metric matched")
                counts["skipped"] += 1
        if r.comparison is not None:
            case = _case(suite, f"perflab.{r.profile}.gate", "regression gate")
            counts["tests"] += 1
            if r.comparison.failed:
                ET.SubElement(case, "failure", message=r.comparison.summary(), type="regression")
                counts["failures"] += 1
            if r.comparison.machine_differences:
                ET.SubElement(case, "system-err").text = ("baseline taken on another machine: "
                                                          + "; ".join(r.comparison.machine_differences))
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    return root


def write(path: str | os.PathLike[str], reports: Sequence[ProfileReport]) -> None:
    root = build(reports)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("<?xml version='1.0' encoding='utf-8'?>\n" + redact.text(text) + "\n", encoding="utf-8")
