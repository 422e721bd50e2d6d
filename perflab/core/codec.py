"""JSON-able dicts <-> model objects, for the store, baselines, replay and --json output.

Table cells are written as JSON values: text as a string, a plain number as a number, ``None`` as null and a
Quantity as ``{"value": ..., "unit": ...}``. A note is ``{"text": ..., "level": ..., "kind": ...}``. Results
stored before cells and notes were typed hold strings for both; they still load: a string cell stays text,
a string note becomes a Note whose level (and kind) are recovered from its wording (_old_note).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from perflab.core.model import (
    EVENT_KINDS,
    KIND_OF,
    Artifact,
    Cell,
    Event,
    Level,
    Metric,
    Note,
    Notice,
    Quantity,
    Result,
    Status,
    SummaryTable,
)


def result_to_dict(r: Result) -> dict[str, Any]:
    return {
        "status": r.status.value,
        "message": r.message,
        "metrics": [
            {"name": m.name, "value": m.value, "unit": m.unit, "labels": dict(m.labels),
             "comparable": m.comparable}
            for m in r.metrics
        ],
        "raw": {k: [list(v) for v in vs] for k, vs in r.raw.items()},
        "data": dict(r.data),
        "tables": [{"title": t.title, "columns": list(t.columns), "rows": [cells_to_list(x) for x in t.rows]}
                   for t in r.tables],
        "notes": [note_to_dict(n) for n in r.notes],
    }


def result_from_dict(d: dict[str, Any]) -> Result:
    return Result(
        status=Status(d.get("status", "error")),
        message=d.get("message", ""),
        metrics=tuple(
            Metric(m["name"], float(m["value"]), m.get("unit", ""), tuple(sorted(m.get("labels", {}).items())),
                   m.get("comparable", True))
            for m in d.get("metrics", [])
        ),
        raw={k: tuple(tuple(float(x) for x in v) for v in vs) for k, vs in d.get("raw", {}).items()},
        data=d.get("data", {}),
        tables=tuple(SummaryTable(t["title"], tuple(t["columns"]), tuple(cells_from_list(r) for r in t["rows"]))
                     for t in d.get("tables", [])),
        notes=tuple(note_from_json(n) for n in d.get("notes", [])),
    )


def cell_to_json(c: Cell) -> Any:
    """A cell as a JSON value (see the module docstring)."""
    if isinstance(c, Quantity):
        return {"value": c.value, "unit": c.unit}
    return c


def cell_from_json(v: Any) -> Cell:
    """A cell from its JSON value; a null quantity value (NaN written by a strict writer) becomes NaN."""
    if isinstance(v, dict):
        value = v.get("value")
        return Quantity(float("nan") if value is None else float(value), str(v.get("unit", "")))
    if v is None or isinstance(v, str | int | float):
        return v
    return str(v)


def cells_to_list(row: tuple[Cell, ...]) -> list[Any]:
    return [cell_to_json(c) for c in row]


def cells_from_list(row: list[Any] | tuple[Any, ...]) -> tuple[Cell, ...]:
    return tuple(cell_from_json(c) for c in row)


def note_to_dict(n: Note) -> dict[str, str]:
    return {"text": n.text, "level": n.level.value, "kind": n.kind}


def note_from_json(v: Any) -> Note:
    """A note as written (a dict), or a plain string as results stored before notes were typed held."""
    if isinstance(v, dict):
        return Note(str(v.get("text", "")), Level(v.get("level", "info")), str(v.get("kind", "")))
    return _old_note(str(v))


def _old_note(text: str) -> Note:
    """A note stored as a bare string: its level and kind recovered by the wording the old writers used (the
    only place that reads a note's text; new notes carry both)."""
    rules: tuple[tuple[bool, Level, str], ...] = (
        (text.startswith("regression gate failed"), Level.ERROR, "baseline.slower"),
        ("breach" in text, Level.ERROR, "threshold.breach"),
        (text.startswith("WARN"), Level.WARNING, "baseline.machine" if "another machine" in text else ""),
        (text.startswith("unstable"), Level.WARNING, "baseline.unstable"),
        (text.startswith("regression gate inconclusive"), Level.WARNING, "baseline.inconclusive"),
        (text.startswith("not measured this time"), Level.WARNING, "baseline.missing"),
        (text.startswith("not "), Level.WARNING, ""),
        (text.startswith("regression gate passed"), Level.INFO, "baseline.passed"),
        (text.startswith("threshold ok"), Level.INFO, "threshold.ok"),
        (text.startswith("threshold not evaluated"), Level.INFO, "threshold.unmatched"),
        (text.startswith("bottleneck ("), Level.INFO, "bottleneck"),
    )
    for hit, level, kind in rules:
        if hit:
            return Note(text, level, kind)
    return Note(text)


def event_to_dict(e: Event) -> dict[str, Any]:
    d = asdict(e)
    d["event"] = KIND_OF[type(e)]  # not "kind": Artifact has a field of that name
    if "labels" in d:
        d["labels"] = dict(e.labels)  # type: ignore[union-attr]
    return d


def event_from_dict(d: dict[str, Any]) -> Event:
    d = dict(d)
    cls = EVENT_KINDS[d.pop("event")] if "event" in d else EVENT_KINDS[d.pop("kind")]
    if cls is Artifact and "kind" not in d:  # written before the "event" key: the artifact's kind was lost
        d["kind"] = "file"
    if "labels" in d:
        d["labels"] = tuple(sorted(d["labels"].items()))
    if cls is Notice:
        d["level"] = Level(d["level"])
    if "status" in d:
        d["status"] = Status(d["status"])
    if "columns" in d:
        d["columns"] = tuple(d["columns"])
        d["rows"] = tuple(cells_from_list(r) for r in d["rows"])
    return cls(**d)
