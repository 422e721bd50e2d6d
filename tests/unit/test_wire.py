"""runners.agents.wire: typed side-channel messages survive the pipe unchanged and keep the record bytes the
untyped form wrote."""

from __future__ import annotations

import os
from typing import Any

import pytest

from perflab.runners.agents import wire

# One message of every kind an agent sends, with values of the types the agents send.
SAMPLES: dict[str, list[wire.Message]] = {
    "LOOP": [wire.LoopProgress(n=120, elapsed=0.5), wire.LoopDone(n=240, elapsed=1.0, interrupted=True)],
    "BENCH": [
        wire.BenchCollected(count=3),
        wire.BenchCollectError(nodeid="bench/test_x.py", error="SyntaxError: invalid syntax"),
        wire.BenchStarted(nodeid="test_x.py::test_sum"),
        wire.BenchOutcome(nodeid="test_x.py::test_a", outcome="error", longrepr="E boom", error="x.py:3: boom"),
        wire.BenchOutcome(nodeid="test_x.py::test_b", outcome="passed", longrepr="", error="", benchmark=False),
        wire.BenchResult(nodeid="t.py::test_s[10]", name="test_s[10]", fullname="t.py::test_s[10]", group=None,
                         params={"n": 10}, extra_info={"callable": "m:f"}, iterations=1000,
                         data=[1.5e-6, 1.25e-6], ref=None, outcome="passed", longrepr="", error=""),
    ],
    "LOAD": [
        wire.Tick(endpoints={"GET /": {"n": 10, "f": 1, "h": "HISTFAAAAB", "p": {"p50": 0.002, "max": 0.01}}},
                  errors={"HTTP 500": 1}, dt=1.0, users=5, state="running", workers=0),
        wire.LocustQuit(),
    ],
    "LEAK": [
        wire.Phase(name="warmup", detail="10 warm-up calls"),
        wire.LeakIteration(i=0, traced=4096, rss=30_000_000, s=0.001),
        wire.LeakSites(sites=[{"file": "m.py", "line": 3, "size": 1024, "count": 2, "total": 4096}]),
    ],
    "CONCURRENCY": [
        wire.HarnessHello(pid=42, is_async=False, python="3.11.9", implementation="cpython", free_threaded=False,
                          gil_enabled=True),
        wire.TrialPrepare(worker="threads", level=4),
        wire.TrialStart(worker="processes", level=2, pid=42, workers=[43, 44]),
        wire.TrialProgress(calls=1000),
        wire.TrialChecking(worker="threads", level=4, calls=1000),
        wire.TrialResult(worker="asyncio", level=8, calls=0, elapsed=0.5, blind_check=False, throughput=0.0,
                         latencies=[], errors=0, first_error=None, problem=None),
        wire.TrialSkipped(worker="asyncio", reason="not async"),
        wire.HarnessError(stage="trial", worker="threads", level=2, message="RuntimeError: x", traceback="tb"),
        wire.Done(),
    ],
    "QUERY": [
        wire.QueryConnected(engine="sqlite", version="SQLite 3.45", database="/tmp/shop.db"),
        wire.QueryIndexes(names=["ix_orders_customer"]),
        wire.Phase(name="statement", detail="by_customer: plan and warm-up", progress=0.0),
        wire.QueryPlan(name="by_customer", format="sqlite", plan=["SCAN orders"], indexes=[],
                       scans=[{"table": "orders", "rows": 50_000, "detail": "SCAN orders", "large": True}]),
        wire.QueryLatencies(name="by_customer", values=[0.001, 0.002], count=2, done=2),
        wire.QueryStatement(name="by_customer", latencies=[0.001], elapsed=0.01, rows=3, connections=1, params=1),
        wire.QueryError(stage="sql", message="no such table: x", name="by_customer"),
        wire.Done(),
    ],
}


def through_pipe(messages: list[wire.Message | tuple[str, dict[str, Any]]]) -> list[bytes]:
    """The lines a Channel writes for ``messages`` (typed, or the untyped kind-and-fields form)."""
    r, w = os.pipe()
    channel = wire.Channel(w)
    for m in messages:
        if isinstance(m, wire.Message):
            channel.send(m)
        else:
            channel.send(m[0], **m[1])
    channel.close()
    with os.fdopen(r, "rb") as f:
        return f.read().splitlines()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_message_survives_the_pipe(name: str) -> None:
    vocab = getattr(wire, name)
    sent = SAMPLES[name]
    assert {m.kind for m in sent} == set(vocab), "every kind of the vocabulary has a sample"
    received = [wire.parse(wire.decode(line) or {}, vocab) for line in through_pipe(list(sent))]
    assert received == sent
    assert [type(m) for m in received] == [type(m) for m in sent]


def test_typed_messages_write_the_bytes_the_untyped_form_wrote() -> None:
    # the old agents' calls, field for field; optional fields that were not sent stay out of the record
    old: list[wire.Message | tuple[str, dict[str, Any]]] = [
        ("phase", {"name": "warmup", "detail": "10 warm-up calls"}),
        ("connected", {"engine": "postgres", "version": "PostgreSQL 16", "host": "db", "port": "5432",
                       "dbname": "shop"}),
        ("error", {"stage": "load", "message": "ImportError: x"}),
        ("trial", {"worker": "threads", "level": 2, "calls": 10, "elapsed": 0.5, "blind_check": False,
                   "throughput": 20.0, "p50": 0.01, "p95": 0.02, "p99": 0.03, "max": 0.04, "mean": 0.015,
                   "latencies": [0.01], "errors": 0, "first_error": None, "problem": None}),
        ("done", {}),
    ]
    new: list[wire.Message] = [
        wire.Phase(name="warmup", detail="10 warm-up calls"),
        wire.QueryConnected(engine="postgres", version="PostgreSQL 16", host="db", port="5432", dbname="shop"),
        wire.HarnessError(stage="load", message="ImportError: x"),
        wire.TrialResult(worker="threads", level=2, calls=10, elapsed=0.5, blind_check=False, throughput=20.0,
                         p50=0.01, p95=0.02, p99=0.03, max=0.04, mean=0.015, latencies=[0.01], errors=0,
                         first_error=None, problem=None),
        wire.Done(),
    ]
    assert through_pipe(list(new)) == through_pipe(old)
    assert through_pipe([new[0]]) == [b'{"name":"warmup","detail":"10 warm-up calls","k":"phase"}']


def test_a_kind_means_what_its_agent_means() -> None:
    record = {"k": "progress", "n": 5, "elapsed": 0.25}
    assert wire.parse(record, wire.LOOP) == wire.LoopProgress(n=5, elapsed=0.25)
    assert wire.parse({"k": "progress", "calls": 7}, wire.CONCURRENCY) == wire.TrialProgress(calls=7)
    assert wire.parse(record, wire.QUERY) is None  # a kind outside the vocabulary is ignored


def test_missing_fields_are_refused_and_unknown_fields_ignored() -> None:
    with pytest.raises(wire.WireError, match="record 'iter' without its field 'rss'"):
        wire.parse({"k": "iter", "i": 0, "traced": 1, "s": 0.1}, wire.LEAK)
    got = wire.parse({"k": "phase", "name": "measure", "added_later": 1}, wire.LEAK)
    assert got == wire.Phase(name="measure")
    assert isinstance(got, wire.Phase) and got.progress is None and got.detail == ""


def test_a_vocabulary_has_one_message_per_kind() -> None:
    with pytest.raises(ValueError, match="two messages of kind 'done'"):
        wire.vocabulary(wire.Done, wire.LoopDone)
