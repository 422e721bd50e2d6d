"""The JSON documents of the read commands, built from in-memory sessions: redaction, strict numbers, history."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from perflab.commands.baselines import metric_history
from perflab.core import redact
from perflab.core.model import Log, Metric, Result, Status
from perflab.report import documents
from perflab.store.sessions import SessionRow

SECRET = "pw-Qz81-unit"  # noqa: S105 - a test value
LABELS = (("benchmark", "f[n=10]"),)


def row(i: int, value: float | None, *, message: str = "", status: Status = Status.PASSED) -> SessionRow:
    metrics = () if value is None else (Metric("median", value, "s", LABELS), Metric("mean", 1.0, "s", LABELS))
    return SessionRow(
        id=f"s{i:02d}", profile="p", profile_path="p.toml", profile_text='name = "p"\n', test_type="benchmark",
        target="callable: m:f", status=status, started=1000.0 + i, ended=1010.0 + i, duration=10.0, exit_code=0,
        message=message, machine={"cores": 2}, git={"commit": "abc", "dirty": False},
        result=Result(status, message, metrics, data=MappingProxyType({"nested": MappingProxyType({"x": 1})})),
        perflab_version="0.1.0")


def strict(text: str) -> Any:
    def refuse(word: str) -> Any:
        raise AssertionError(f"not strict JSON: {word}")
    return json.loads(text, parse_constant=refuse)


def test_every_string_is_redacted_and_numbers_stay_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "REGISTRY", redact.Redactor([SECRET]))
    r = row(1, 0.5, message=f"login failed for {SECRET}")
    logs = [Log(0.25, f"password {SECRET}", "stderr", "target")]
    text = documents.dumps(documents.show_document(r, Path("/st"), logs, []))
    assert SECRET not in text
    doc = strict(text)
    s = doc["session"]
    assert s["message"] == "login failed for ***" and s["result"]["message"] == "login failed for ***"
    assert s["logs"] == [{"t": 0.25, "stream": "stderr", "source": "target", "line": "password ***"}]
    assert s["result"]["data"] == {"nested": {"x": 1}}  # frozen mappings become objects, not their repr
    assert (doc["format"], s["started"], s["duration"]) == (2, 1001.0, 10.0)


def test_a_secret_that_looks_like_a_number_leaves_the_json_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redacting the serialised text would turn 1001.0 into ***1.0; the data is redacted instead."""
    monkeypatch.setattr(redact, "REGISTRY", redact.Redactor(["100"]))
    doc = strict(documents.dumps(documents.sessions_document([row(1, 0.5, message="code 100")],
                                                             Path("/st"))))
    assert doc["sessions"][0]["started"] == 1001.0 and doc["sessions"][0]["message"] == "code ***"


def test_nan_and_infinity_become_null() -> None:
    assert strict(documents.dumps({"a": math.nan, "b": [math.inf, 1.5], "c": (-math.inf,)})) == {
        "a": None, "b": [None, 1.5], "c": [None]}


def test_history_aligns_values_and_finds_the_step() -> None:
    values = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 3.0, 3.02, 2.98, 3.0, 3.01, 2.99, 3.0, 3.02]
    rows = [row(i, v) for i, v in enumerate(values)]
    rows.insert(4, row(99, None))  # a session without the metric: null in its place, not a shifted series
    rows.insert(6, row(98, math.nan))
    (series,) = metric_history(rows, "median", 0.05)
    doc = strict(documents.dumps(documents.history_document("p", "median", 0.05, rows, [series])))
    assert [s["id"] for s in doc["sessions"]] == [r.id for r in rows]
    (only,) = doc["series"]
    assert only["key"] == "median{benchmark=f[n=10]}" and only["unit"] == "s"
    assert only["values"][4] is None and only["values"][6] is None
    assert [v for v in only["values"] if v is not None] == values
    (cp,) = only["change_points"]
    assert cp["session"] == "s08" and doc["sessions"][cp["index"]]["id"] == "s08"
    assert cp["change"] == pytest.approx(cp["after"] / cp["before"] - 1) and cp["change"] > 1.5
    assert cp["p_value"] <= 0.05
