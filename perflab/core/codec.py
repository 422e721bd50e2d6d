"""JSON-able dicts <-> model objects, for the store, baselines, replay and --json output."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from perflab.core.model import (
    EVENT_KINDS,
    KIND_OF,
    Artifact,
    Event,
    Level,
    Metric,
    Notice,
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
        "tables": [{"title": t.title, "columns": list(t.columns), "rows": [list(x) for x in t.rows]}
                   for t in r.tables],
        "notes": list(r.notes),
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
        tables=tuple(SummaryTable(t["title"], tuple(t["columns"]), tuple(tuple(r) for r in t["rows"]))
                     for t in d.get("tables", [])),
        notes=tuple(d.get("notes", [])),
    )


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
        d["rows"] = tuple(tuple(r) for r in d["rows"])
    return cls(**d)
