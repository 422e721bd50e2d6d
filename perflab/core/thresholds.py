"""Thresholds in the k6 style: ``p95 < 500ms``, ``error_rate < 1%``, ``rps >= 200``, ``ratio(builtins:sorted) < 0.9``.

Grammar (spaces optional)::

    threshold := metric [ "(" arg ")" ] [ "{" label "=" value ("," label "=" value)* "}" ] op number [unit]
    op        := "<" | "<=" | ">" | ">="
    unit      := ns us µs ms s m min h | B kB KB MB GB KiB MiB GiB | % | /s | k M G   (core.units, as in profiles)

Predicates stand alone, without an operator: ``no_full_scan`` means ``full_scans < 1`` and
``uses_index("idx_orders_customer")`` means ``uses_index(idx_orders_customer) >= 1``; a predicate whose
metric is missing (the index was never used, or does not exist) fails instead of being skipped.

``(arg)`` selects the metrics that have a label whose value is ``arg`` (``ratio(builtins:sorted)`` selects the
ratio against that comparison, ``p95(counting_sort[n=100])`` one benchmark); ``{k=v}`` selects by label.
Values are converted to SI base units (seconds, bytes, ratio 1.0 = 100 %, per second). Thresholds are
checked when the profile loads (``check``), evaluated on the final Result (``apply``) and, while the run is
going, on every sample whose series ends in the metric's name (``ThresholdWatcher``): a live breach is a
Notice, the final verdict is what gates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from perflab.core.model import (
    Event,
    Labels,
    Level,
    Metric,
    Note,
    Notice,
    PerflabError,
    Profile,
    Result,
    Sample,
    Status,
)
from perflab.core.units import NUMBER_PATTERN, UNIT_PATTERN, UNITS, Kind

if TYPE_CHECKING:
    from perflab.core.testtypes import TestType


# What kind of quantity each known metric is; a unit of another kind is an error.
METRIC_KINDS: dict[str, Kind] = {
    **{m: Kind.TIME for m in ("min", "max", "mean", "median", "stdev", "p50", "p90", "p95", "p99", "duration",
                              "recovery_time")},
    **{m: Kind.SIZE for m in ("peak_rss", "peak_memory", "total_allocated", "growth_per_iter",
                              "rss_growth_per_iter")},
    **{m: Kind.RATIO for m in ("error_rate", "ratio", "cpu", "efficiency")},
    **{m: Kind.RATE for m in ("ops", "rps", "throughput")},
    "instructions": Kind.COUNT,
}

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
}

# Predicates: name -> (metric, op, value); they take an optional argument and no operator.
PREDICATES: dict[str, tuple[str, str, float]] = {
    "no_full_scan": ("full_scans", "<", 1.0),
    "no_full_scans": ("full_scans", "<", 1.0),
    "uses_index": ("uses_index", ">=", 1.0),
}

_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)")
_OP = re.compile(r"\s*(<=|>=|<|>)")
_NUMBER = re.compile(rf"\s*({NUMBER_PATTERN})")
_UNIT = re.compile(rf"\s*({UNIT_PATTERN})(?![A-Za-z0-9])")


class ThresholdError(PerflabError):
    pass


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str
    arg: str | None
    selector: Labels
    op: str
    value: float  # SI base units
    unit: str
    required: bool = False  # a predicate: no matching metric is a breach, not "not evaluated"

    def matches(self, name: str, lbls: Labels) -> bool:
        if name != self.metric:
            return False
        if self.arg is not None and all(v != self.arg for _, v in lbls):
            return False
        return all(item in lbls for item in self.selector)

    def holds(self, value: float) -> bool:
        return OPS[self.op](value, self.value)


def _fail(msg: str, col: int) -> ThresholdError:
    return ThresholdError(f"{msg} at column {col + 1}")


def parse(text: str) -> Threshold:
    """Parse one threshold expression; ThresholdError names the bad token and its column (1-based)."""
    if not isinstance(text, str) or not text.strip():
        raise ThresholdError("empty threshold")
    pos = 0
    m = _NAME.match(text, pos)
    if not m:
        raise _fail(f'expected a metric name, found "{text.strip()[:12]}"', len(text) - len(text.lstrip()))
    metric, pos = m.group(1), m.end()
    arg = None
    selector: list[tuple[str, str]] = []
    rest = text[pos:]
    if rest.lstrip().startswith("("):
        start = text.index("(", pos)
        end = text.find(")", start)
        if end < 0:
            raise _fail('unclosed "("', start)
        arg = text[start + 1:end].strip().strip("\"'")
        if not arg:
            raise _fail('empty "()"', start)
        pos = end + 1
    if text[pos:].lstrip().startswith("{"):
        start = text.index("{", pos)
        end = text.find("}", start)
        if end < 0:
            raise _fail('unclosed "{"', start)
        for part in text[start + 1:end].split(","):
            k, eq, v = part.partition("=")
            if not eq or not k.strip() or not v.strip():
                raise _fail(f'bad label selector "{part.strip()}" (expected name=value)', start + 1)
            selector.append((k.strip(), v.strip()))
        pos = end + 1
    if metric in PREDICATES and not text[pos:].strip():
        if metric == "uses_index" and arg is None:
            raise _fail('uses_index needs the index name, e.g. uses_index("idx_orders_customer")', pos)
        target, op, value = PREDICATES[metric]
        return Threshold(text.strip(), target, arg, tuple(sorted(selector)), op, value, "", required=True)
    m = _OP.match(text, pos)
    if not m:
        col = pos + len(text[pos:]) - len(text[pos:].lstrip())
        found = text[col:].split()[0] if text[col:].split() else "end of text"
        raise _fail(f'expected one of < <= > >=, found "{found}"', col)
    op, pos = m.group(1), m.end()
    m = _NUMBER.match(text, pos)
    if not m:
        col = pos + len(text[pos:]) - len(text[pos:].lstrip())
        found = text[col:].split()[0] if text[col:].split() else "end of text"
        raise _fail(f'expected a number, found "{found}"', col)
    number, pos, number_col = float(m.group(1).replace("_", "")), m.end(), m.start(1)
    unit = ""
    if text[pos:].strip():
        m = _UNIT.match(text, pos)
        col = pos + len(text[pos:]) - len(text[pos:].lstrip())
        if not m:
            raise ThresholdError(f'bad unit "{text[col:].split()[0]}" at column {col + 1} '
                                 f'(known: {" ".join(UNITS)})')
        unit, pos = m.group(1), m.end()
        if text[pos:].strip():
            col = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise _fail(f'unexpected "{text[col:].strip()}"', col)
        kind = METRIC_KINDS.get(metric)
        if kind is not None and UNITS[unit][1] != kind:
            raise _fail(f'unit "{unit}" does not fit {metric} ({kind.value})', col)
    scale = UNITS[unit][0] if unit else 1.0
    if not math.isfinite(number * scale):  # "1e999ms": a limit no measurement can be compared with
        raise _fail("number out of range", number_col)
    return Threshold(text.strip(), metric, arg, tuple(sorted(selector)), op, number * scale, unit)


def check(expr: str, testtype: TestType | None) -> str | None:
    """An error phrase for a bad threshold (pointing at the bad token), or None. Hook for core.profiles."""
    try:
        t = parse(expr)
    except ThresholdError as e:
        return f"{e} in {expr!r}" if isinstance(expr, str) else str(e)
    if testtype is not None and testtype.metrics and t.metric not in testtype.metrics:
        return (f"the {testtype.name} test type has no metric {t.metric!r} (it has "
                + ", ".join(sorted(testtype.metrics)) + ")")
    return None


def fmt(value: float, unit: str) -> str:
    """``value`` (SI) shown in the threshold's own unit, so a person compares like with like."""
    if unit and unit in UNITS:
        return f"{value / UNITS[unit][0]:.4g}{'' if unit in ('%',) else ' '}{unit}".replace(" /s", "/s")
    return f"{value:.4g}"


@dataclass(frozen=True)
class Evaluation:
    threshold: Threshold
    metric: Metric | None
    passed: bool | None  # None: no metric matched

    def describe(self) -> str:
        t = self.threshold
        if self.metric is None:
            if t.required:
                return f"threshold breach: {t.text}: no {t.metric}{f'({t.arg})' if t.arg else ''} in the results"
            return f"threshold not evaluated: {t.text}: no metric matched"
        shown = fmt(self.metric.value, t.unit)
        if self.passed:
            return f"threshold ok: {t.text}: {self.metric.key()} = {shown}"
        return f"threshold breach: {t.text}: {self.metric.key()} = {shown}"

    def note(self) -> Note:
        """The evaluation as a result note: ``threshold.breach`` (error), ``threshold.ok`` or, for an optional
        threshold no metric matched, ``threshold.unmatched``."""
        if self.passed is False:
            return Note(self.describe(), Level.ERROR, "threshold.breach")
        return Note(self.describe(), Level.INFO, "threshold.ok" if self.passed else "threshold.unmatched")


def evaluate(thresholds: tuple[str, ...], metrics: tuple[Metric, ...]) -> list[Evaluation]:
    out: list[Evaluation] = []
    for text in thresholds:
        t = parse(text)
        hits = [m for m in metrics if t.matches(m.name, m.labels)]
        if not hits:
            out.append(Evaluation(t, None, False if t.required else None))
        for m in hits:
            out.append(Evaluation(t, m, t.holds(m.value) if math.isfinite(m.value) else False))
    return out


def apply(profile: Profile, result: Result) -> Result:
    """Evaluate the profile's thresholds on the final metrics: FAILED when one breaks. Hook for core.engine."""
    if not profile.thresholds:
        return result
    evals = evaluate(profile.thresholds, result.metrics)
    notes = [e.note() for e in evals]
    breaches = [e for e in evals if e.passed is False]
    status, message = result.status, result.message
    if breaches:
        status = Status.FAILED
        first = breaches[0]
        if first.metric is not None:
            detail = f"{first.metric.key()} = {fmt(first.metric.value, first.threshold.unit)}"
        else:
            detail = "no matching metric in the results"
        message = (f"threshold failed: {first.threshold.text} ({detail})"
                   + (f" and {len(breaches) - 1} more" if len(breaches) > 1 else ""))
    data = {**result.data, "thresholds": [
        {"threshold": e.threshold.text, "metric": e.metric.key() if e.metric else None,
         "value": e.metric.value if e.metric else None, "limit": e.threshold.value, "passed": e.passed}
        for e in evals]}
    return replace(result, status=status, message=message, notes=(*result.notes, *notes), data=data)


class ThresholdWatcher:
    """A sink that checks thresholds live: a sample of series ``x.y.NAME`` is checked against thresholds on
    metric NAME; the first breach per threshold and label set emits ``Notice(code="threshold.breach")``."""

    def __init__(self, profile: Profile, emit: Callable[[Event], None], now: Callable[[], float]) -> None:
        self.thresholds = [parse(t) for t in profile.thresholds]
        self.emit = emit
        self.now = now
        self.seen: set[tuple[str, Labels]] = set()

    def handle(self, event: Event) -> None:
        if not isinstance(event, Sample) or not self.thresholds:
            return
        name = event.series.rpartition(".")[2]
        for t in self.thresholds:
            if not t.matches(name, event.labels) or t.holds(event.value):
                continue
            key = (t.text, event.labels)
            if key in self.seen:
                continue
            self.seen.add(key)
            where = ",".join(f"{k}={v}" for k, v in event.labels)
            self.emit(Notice(self.now(), Level.WARNING,
                             f"live threshold breach: {t.text}: {event.series}{{{where}}} = "
                             f"{fmt(event.value, t.unit)}", "threshold.breach"))
