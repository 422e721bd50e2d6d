"""A Comparison as a table: baseline, candidate, change, interval, p-value, verdict.

The baseline and candidate cells are quantities in the metric's unit; change, interval and p-value are
written here (signed percentages of a ratio), the numbers themselves being in the result's
``data["comparison"]``. Instruction counts are deterministic: their table says so, shows the range over the
processes instead of a confidence interval, and has no p-value column. A time judged relative to the reference
loop shows its change in seconds beside it, the unit of the results table. A p-value is shown only where the
test could reach significance with the processes measured (core.stats.compare_samples); elsewhere the interval
carries the verdict.
"""

from __future__ import annotations

import math

from perflab.core import counts
from perflab.core.compare import Comparison, MetricComparison
from perflab.core.model import Cell, Quantity, SummaryTable

COLUMNS = ("benchmark", "metric", "baseline", "this run", "change", "95 % CI of change", "p (MWU)", "verdict")
# instruction counts: no interval is estimated and no test is run
COUNT_COLUMNS = ("benchmark", "metric", "baseline count", "this run's count", "change in count",
                 "range over processes", "verdict")


def change(ratio: float) -> str:
    return "-" if not math.isfinite(ratio) else f"{(ratio - 1) * 100:+.1f} %"


def change_cell(row: MetricComparison) -> str:
    """The judged change; a row judged relative to the reference loop adds the change in seconds."""
    text = change(row.result.ratio)
    if row.calibrated and math.isfinite(row.plain_ratio) and text != "-":
        text += f" (in s {change(row.plain_ratio)})"
    return text


def interval(row: MetricComparison) -> str:
    r = row.result
    if not (math.isfinite(r.low) and math.isfinite(r.high)):
        return "-"
    return f"{(r.low - 1) * 100:+.1f} % .. {(r.high - 1) * 100:+.1f} %"


def interval_label(row: MetricComparison) -> str:
    """What :func:`interval` is for this row, for one-line texts: a confidence interval, or for counts the range
    of candidate / baseline over the processes."""
    return "range over processes" if counts.is_count(row.unit) else "95 % CI"


def p_value(row: MetricComparison) -> str:
    p = row.result.p_value
    return "-" if p is None else f"{p:.3g}"


def verdict_text(row: MetricComparison) -> str:
    v = row.verdict.value
    if v == "unstable" and row.result.reason:
        what = "inconclusive" if row.result.inconclusive else "unstable"
        reason = row.result.reason.removeprefix("inconclusive: ")
        return f"{what} ({reason})"
    return v


def cells(row: MetricComparison) -> tuple[Cell, ...]:
    """One row in the order of COLUMNS (every kind of metric: the JUnit and Markdown reports index it)."""
    r = row.result
    return (row.subject, row.name, Quantity(r.baseline, row.unit), Quantity(r.candidate, row.unit),
            change_cell(row), interval(row), p_value(row), verdict_text(row))


def table(c: Comparison) -> SummaryTable:
    if c.rows and all(counts.is_count(r.unit) for r in c.rows):
        title = (f"{c.candidate} vs {c.baseline} (tolerance {c.settings.tolerance * 100:g} %, instruction counts: "
                 f"deterministic, unstable when the processes disagree by more than {c.settings.tolerance * 25:g} %)")
        return SummaryTable(title, COUNT_COLUMNS, tuple(cells(r)[:6] + cells(r)[7:] for r in c.rows))
    title = (f"{c.candidate} vs {c.baseline} (tolerance {c.settings.tolerance * 100:g} %, "
             f"unstable above {c.settings.max_cv * 100:g} % process CV)")
    return SummaryTable(title, COLUMNS, tuple(cells(r) for r in c.rows))
