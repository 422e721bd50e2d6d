"""Markdown for a pull-request comment or ``$GITHUB_STEP_SUMMARY``: one section per profile."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from perflab.core import redact
from perflab.core.compare import Comparison
from perflab.core.model import Result, SummaryTable
from perflab.report import compare as compare_report
from perflab.report import values

ICON = {"passed": "✅", "failed": "❌", "error": "⚠️", "crashed": "⚠️", "interrupted": "⏹️"}


@dataclass(frozen=True)
class ProfileReport:
    """What the CI outputs need about one profile's run."""

    profile: str
    session: str
    result: Result
    exit_code: int
    duration: float  # seconds
    comparison: Comparison | None = None


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def table(t: SummaryTable) -> str:
    lines = ["| " + " | ".join(_escape(c) for c in t.columns) + " |",
             "|" + "|".join("---" for _ in t.columns) + "|"]
    lines += ["| " + " | ".join(_escape(c) for c in values.row(row)) + " |" for row in t.rows]
    return "\n".join(lines)


def render(reports: Sequence[ProfileReport]) -> str:
    out = ["## perflab results", ""]
    for r in reports:
        status = r.result.status.value
        out.append(f"### {ICON.get(status, '')} {r.profile}: {status.upper()}")
        out.append("")
        if r.result.message:
            out += [f"**{_escape(r.result.message)}**", ""]
        if r.comparison is not None:
            c = r.comparison
            out += [f"Regression gate: {_escape(c.summary())}", ""]
            if c.machine_differences:
                out += ["> **Warning:** the baseline was taken on another machine: "
                        + "; ".join(c.machine_differences), ""]
            if c.rows:
                out += [table(compare_report.table(c)), ""]
        for t in r.result.tables[:1]:
            out += [f"<details><summary>{_escape(t.title)}</summary>", "", table(t), "", "</details>", ""]
        # the verdict's reasons, and that a stopped run's figures are partial
        notes = [n for n in r.result.notes if n.kind.startswith("threshold.") or n.kind.endswith(".partial")]
        if notes:
            out += [f"- {_escape(n.text)}" for n in notes] + [""]
        out += [f"<sub>session {r.session}, {r.duration:.1f} s, exit code {r.exit_code}</sub>", ""]
    return "\n".join(out)


def write(path: str | os.PathLike[str], reports: Sequence[ProfileReport]) -> None:
    Path(path).write_text(redact.text(render(reports)), encoding="utf-8")


def append_step_summary(reports: Sequence[ProfileReport]) -> str | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` when GitHub Actions set it; returns the path used."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as f:
        f.write(redact.text(render(reports)) + "\n")
    return target
