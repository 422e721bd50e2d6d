"""A Comparison as a table: baseline, candidate, change, confidence interval, p-value, verdict.

The baseline and candidate cells are quantities in the metric's unit; change, interval and p-value are
written here (signed percentages of a ratio), the numbers themselves being in the result's
``data["comparison"]``."""

from __future__ import annotations

import math

from perflab.core.compare import Comparison, MetricComparison
from perflab.core.model import Cell, Quantity, SummaryTable

COLUMNS = ("benchmark", "metric", "baseline", "this run", "change", "95 % CI of change", "p (MWU)", "verdict")


def change(ratio: float) -> str:
    return "-" if not math.isfinite(ratio) else f"{(ratio - 1) * 100:+.1f} %"


def interval(row: MetricComparison) -> str:
    r = row.result
    if not (math.isfinite(r.low) and math.isfinite(r.high)):
        return "-"
    return f"{(r.low - 1) * 100:+.1f} % .. {(r.high - 1) * 100:+.1f} %"


def p_value(row: MetricComparison) -> str:
    p = row.result.p_value
    return "-" if p is None else f"{p:.3g}"


def verdict_text(row: MetricComparison) -> str:
    v = row.verdict.value
    return f"{v} ({row.result.reason})" if row.verdict.value == "unstable" and row.result.reason else v


def cells(row: MetricComparison) -> tuple[Cell, ...]:
    r = row.result
    return (row.subject, row.name, Quantity(r.baseline, row.unit), Quantity(r.candidate, row.unit),
            change(r.ratio), interval(row), p_value(row), verdict_text(row))


def table(c: Comparison) -> SummaryTable:
    title = (f"{c.candidate} vs {c.baseline} (tolerance {c.settings.tolerance * 100:g} %, "
             f"unstable above {c.settings.max_cv * 100:g} % process CV)")
    return SummaryTable(title, COLUMNS, tuple(cells(r) for r in c.rows))
