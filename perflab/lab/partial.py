"""Partial results: what a stopped run had measured, for every test type.

A run stopped before its end (the app's stop key, Ctrl-C, SIGTERM) ends ``interrupted``. Some runners answer
the stop with a summary of what they measured (load, stress, memory); the others are cancelled with nothing to
return. Either way :func:`mark` makes the stored result say it is partial, in one place for every front end
and file format:

* ``data["partial"]`` is True (JSON documents, ``perflab show --json``);
* the message ends with "(partial results)" and a warning note of kind ``run.partial`` says when the run was
  stopped (unless the runner wrote its own: ``run.partial`` or ``load.partial``);
* a result without tables gets the tables the run streamed (the latest version of each: top functions, top
  allocators, the stress curve) and one table of every series it sampled until the stop (samples, first,
  last, min, mean, max, in the series' unit), so the results show what was measured, not an empty page.

:class:`Measured` is the sink that folds those series while the run goes: bounded memory (one accumulator
per labelled series up to MAX_SETS per series name, then one more for the rest; the latest table per name),
nothing kept per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from perflab.core import units
from perflab.core.model import Event, Labels, Level, Note, Quantity, Result, Sample, SummaryTable, Table

PARTIAL_MESSAGE = "stopped before the end (partial results)"
MAX_LABEL_VALUES = 16  # a label key with more values than this (a leak run's ``iteration``) is merged away
MAX_ROWS = 24  # rows of the series table; the rest are counted in its title
MAX_SETS = 256  # label sets kept apart per series name (a leak run labels every iteration): the rest share one
MONITOR_SHOWN = ("proc.cpu", "proc.rss")
SKIPPED = ("bench.median",)  # a summary of bench.round, which is listed
COLUMNS = ("series", "samples", "first", "last", "min", "mean", "max")


@dataclass
class _Acc:
    """Running figures of one labelled series (values in the series' SI unit, times in s)."""

    n: int = 0
    first_t: float = math.inf
    first: float = math.nan
    last_t: float = -math.inf
    last: float = math.nan
    lo: float = math.inf
    hi: float = -math.inf
    total: float = 0.0

    def add(self, t: float, v: float) -> None:
        self.n += 1
        self.total += v
        self.lo, self.hi = min(self.lo, v), max(self.hi, v)
        if t < self.first_t:
            self.first_t, self.first = t, v
        if t >= self.last_t:
            self.last_t, self.last = t, v

    def merge(self, other: _Acc) -> None:
        self.n += other.n
        self.total += other.total
        self.lo, self.hi = min(self.lo, other.lo), max(self.hi, other.hi)
        if other.first_t < self.first_t:
            self.first_t, self.first = other.first_t, other.first
        if other.last_t >= self.last_t:
            self.last_t, self.last = other.last_t, other.last


class Measured:
    """A sink that keeps, per labelled series, what :func:`mark` needs (see the module docstring)."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, Labels], _Acc] = {}
        self.sets: dict[str, int] = {}  # label sets kept per series name
        self.tables: dict[str, Table] = {}
        self.t = 0.0  # s: the time of the latest event

    def handle(self, event: Event) -> None:
        self.t = max(self.t, event.t)
        if isinstance(event, Sample):
            key = (event.series, event.labels)
            acc = self.series.get(key)
            if acc is None:
                n = self.sets.get(event.series, 0)
                if n >= MAX_SETS:
                    key = (event.series, ())  # the rest, merged: rows() merges these labels away anyway
                    acc = self.series.get(key)
                if acc is None:
                    self.sets[event.series] = n + 1
                    acc = self.series[key] = _Acc()
            acc.add(event.t, event.value)
        elif isinstance(event, Table):
            self.tables[event.name] = event

    def rows(self) -> list[tuple[str, Labels, _Acc]]:
        """One row per series name and label set, label keys with too many values merged away; a name whose
        merged label sets are still too many becomes one row. Process monitor series last."""
        by_name: dict[str, list[tuple[Labels, _Acc]]] = {}
        for (name, lbls), acc in self.series.items():
            if name in SKIPPED or name.startswith("proc.") and name not in MONITOR_SHOWN:
                continue  # the monitor's summary is in the result's data; its CPU and RSS are enough here
            by_name.setdefault(name, []).append((lbls, acc))
        out: list[tuple[str, Labels, _Acc]] = []
        for name in sorted(by_name, key=lambda n: (n.startswith("proc."), n)):
            entries = by_name[name]
            values: dict[str, set[str]] = {}
            for lbls, _ in entries:
                for k, v in lbls:
                    values.setdefault(k, set()).add(v)
            many = {k for k, vs in values.items() if len(vs) > MAX_LABEL_VALUES}
            merged = _merge(entries, many)
            if len(merged) > MAX_LABEL_VALUES:  # e.g. each benchmark of each process: the processes merged
                merged = _merge(entries, many | (set(values) & {"process", "worker", "iteration"}))
            if len(merged) > MAX_LABEL_VALUES:
                merged = _merge(entries, set(values))
            out += [(name, lbls, merged[lbls]) for lbls in sorted(merged)]
        return out


def _merge(entries: list[tuple[Labels, _Acc]], drop: set[str]) -> dict[Labels, _Acc]:
    """The accumulators of ``entries`` merged by their labels without the keys in ``drop``."""
    merged: dict[Labels, _Acc] = {}
    for lbls, acc in entries:
        merged.setdefault(tuple((k, v) for k, v in lbls if k not in drop), _Acc()).merge(acc)
    return merged


def unit_of(series: str) -> str:
    """The unit (core.units.value name) of a series by its stable name (ARCHITECTURE.md, the event stream)."""
    leaf = series.rsplit(".", 1)[-1]
    if series.startswith("mem.") or leaf in ("rss", "heap", "traced"):
        return "B"
    if ".latency" in series or series in ("bench.round", "bench.median") or leaf in ("p50", "p90", "p95", "p99",
                                                                                     "max"):
        return "s"
    if leaf in ("rps", "throughput", "failures") or series == "stress.rate":
        return "/s"
    if series in ("proc.cpu", "load.generator.cpu", "cpu.own", "conc.gil_wait") or leaf.endswith(("share",
                                                                                                  "error_rate")):
        return "%"
    return "count"


def _cell(v: float, unit: str) -> Quantity | int | float:
    if unit == "count":
        if math.isfinite(v) and float(v).is_integer():
            return int(v)
        return Quantity(v, "count") if abs(v) >= 100 else v  # 28,860 rather than 2.886e+04
    return Quantity(v, unit)


def series_table(measured: Measured) -> SummaryTable | None:
    rows = measured.rows()
    if not rows:
        return None
    shown = rows[:MAX_ROWS]
    more = f" ({len(rows) - len(shown)} more not listed)" if len(rows) > len(shown) else ""
    cells = []
    for name, lbls, acc in shown:
        unit = unit_of(name)
        shown_labels = ",".join(f"{k}={v}" for k, v in lbls if v)
        label = name + ("{" + shown_labels + "}" if shown_labels else "")
        cells.append((label, acc.n, *(_cell(x, unit) for x in (acc.first, acc.last, acc.lo, acc.total / acc.n,
                                                                 acc.hi))))
    return SummaryTable(f"measured until the stop: every sampled series{more}", COLUMNS, tuple(cells))


def is_partial(result: Result) -> bool:
    return bool(result.data.get("partial"))


def mark(result: Result, measured: Measured | None, elapsed: float) -> Result:
    """``result`` of a stopped run (``elapsed`` s after its start) marked partial; see the module docstring."""
    data: dict[str, Any] = {**result.data, "partial": True}
    notes = list(result.notes)
    tables = list(result.tables)
    if not tables and measured is not None:
        tables += [SummaryTable(f"{t.name} (at the stop)", t.columns, t.rows) for t in measured.tables.values()]
        table = series_table(measured)
        if table is not None:
            tables.append(table)
    if not any(n.kind.endswith(".partial") for n in notes):
        what = "the figures cover what was measured until then" if tables or result.metrics \
            else "nothing had been measured yet"
        notes.insert(0, Note(f"Partial: stopped after {units.duration(elapsed)}; {what}.", Level.WARNING,
                             "run.partial"))
    message = result.message
    if "partial" not in message:
        message = PARTIAL_MESSAGE if not message or message == "stopped before the end" \
            else f"{message} (partial results)"
    return replace(result, message=message, data=data, tables=tuple(tables), notes=tuple(notes))
