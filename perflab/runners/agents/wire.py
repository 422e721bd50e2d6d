"""The side-channel wire format: one JSON object per line, written to an inherited pipe.

The parent creates a pipe, passes the write end to the child and names it in ``PERFLAB_EVENT_FD``.
Anything the child prints goes to stdout/stderr and can never corrupt these records.

Every record is a typed :class:`Message`: a frozen dataclass whose class attribute ``kind`` is the record's
field ``k`` and whose fields are the record's other fields (JSON values; nested objects stay dicts and lists).
An agent sends messages (``channel().send(Phase(name=...))``); the parent's runner reads each decoded record
back as the message of its agent's vocabulary (:func:`parse` with ``LOOP``, ``BENCH``, ``LOAD``, ``LEAK``,
``CONCURRENCY``, ``QUERY`` or ``HEAP``). Kinds are names within one agent's vocabulary: ``progress`` is calls and
seconds from the loop agent but a call count from the concurrency harness. Times are not sent unless a field
says so: the parent stamps records when they arrive. Stdlib only: the agents import nothing else of perflab.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

ENV_FD = "PERFLAB_EVENT_FD"
ENV_T0 = "PERFLAB_T0"  # wall-clock start of the session, for agents that need absolute times


class Channel:
    """Writer for the side channel. Thread-safe; a closed or missing channel makes ``send`` a no-op."""

    def __init__(self, fd: int | None) -> None:
        self._lock = threading.Lock()
        self._file = os.fdopen(fd, "w", buffering=1 << 16, encoding="utf-8", closefd=True) if fd is not None else None

    @property
    def connected(self) -> bool:
        return self._file is not None

    def send(self, message: Message | str, /, **fields: Any) -> None:
        """Write one record: a typed message, or (the untyped form) a kind and its fields."""
        if self._file is None:
            return
        record = message.record() if isinstance(message, Message) else {**fields, "k": message}
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except (BrokenPipeError, ValueError, OSError):
                self._file = None

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except OSError:
                    pass
                self._file = None


_channel: Channel | None = None


def channel() -> Channel:
    """The process-wide channel named by ``PERFLAB_EVENT_FD`` (a no-op channel when absent)."""
    global _channel
    if _channel is None:
        raw = os.environ.get(ENV_FD)
        fd: int | None = None
        if raw:
            try:
                fd = int(raw)
                os.fstat(fd)
            except (ValueError, OSError):
                fd = None
        _channel = Channel(fd)
    return _channel


def decode(line: bytes | str) -> dict[str, Any] | None:
    """Parse one line into a record (a JSON object with a string ``k``); ``None`` for anything else (never
    raises). :func:`parse` makes it a typed message."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("k"), str) else None


def resolve(ref: str) -> Any:
    """Import ``module:attr.path`` (``builtins:sorted`` works)."""
    import importlib

    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{ref!r} is not of the form module:function")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------ typed messages


class WireError(ValueError):
    """A record of a known kind without a field its message requires: the agent and the parent disagree."""


_OMIT_NONE = {"omit_none": True}


def optional() -> Any:
    """A field sent only when set: while it is None the record leaves it out, and a record without it reads
    back as None."""
    return field(default=None, metadata=_OMIT_NONE)


@dataclass(frozen=True, kw_only=True)
class Message:
    """One typed record. Fields go on the wire in declaration order, then ``k``."""

    kind: ClassVar[str] = ""

    def fields(self) -> dict[str, Any]:
        """The record's fields without ``k`` (fields made with :func:`optional` only when set)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = value
        return out

    def record(self) -> dict[str, Any]:
        return {**self.fields(), "k": self.kind}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Self:
        """The message a record carries; fields it does not declare are ignored (a newer agent may add some).

        Values are taken as JSON gave them: fields are checked for presence, not type.
        """
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in record:
                values[f.name] = record[f.name]
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise WireError(f"side-channel record {cls.kind!r} without its field {f.name!r}")
        return cls(**values)


Vocabulary = Mapping[str, type[Message]]


def vocabulary(*types: type[Message]) -> dict[str, type[Message]]:
    """The messages one agent sends, by kind (a kind appears once)."""
    out: dict[str, type[Message]] = {}
    for t in types:
        if t.kind in out:
            raise ValueError(f"two messages of kind {t.kind!r}")
        out[t.kind] = t
    return out


def parse(record: Mapping[str, Any], vocab: Vocabulary) -> Message | None:
    """The typed message of a decoded record; None for a kind outside ``vocab`` (ignored, as before typing).

    A record of a known kind that lacks a required field raises :class:`WireError`.
    """
    t = vocab.get(str(record.get("k")))
    return t.from_record(record) if t is not None else None


# -- shared by several agents


@dataclass(frozen=True, kw_only=True)
class Phase(Message):
    """A phase change; ``progress`` is the ratio (0..1) of the agent's work done, when it knows it."""

    kind: ClassVar[str] = "phase"
    name: str
    detail: str = ""
    progress: float | None = optional()


@dataclass(frozen=True, kw_only=True)
class Done(Message):
    """The agent did all its work (concurrency harness, query agent)."""

    kind: ClassVar[str] = "done"


# -- loop_call: a callable run in a loop while it is profiled


@dataclass(frozen=True, kw_only=True)
class LoopProgress(Message):
    kind: ClassVar[str] = "progress"
    n: int  # calls so far
    elapsed: float  # s since the loop started


@dataclass(frozen=True, kw_only=True)
class LoopDone(Message):
    kind: ClassVar[str] = "done"
    n: int  # calls made
    elapsed: float  # s the loop ran
    interrupted: bool  # stopped by the parent (SIGINT) before its duration or iterations


LOOP = vocabulary(LoopProgress, LoopDone)


# -- pytest_plugin: the benchmark runner's pytest child


@dataclass(frozen=True, kw_only=True)
class BenchCollected(Message):
    kind: ClassVar[str] = "collected"
    count: int  # tests collected


@dataclass(frozen=True, kw_only=True)
class BenchCollectError(Message):
    kind: ClassVar[str] = "collect_error"
    nodeid: str
    error: str  # one line


@dataclass(frozen=True, kw_only=True)
class BenchStarted(Message):
    kind: ClassVar[str] = "started"
    nodeid: str


@dataclass(frozen=True, kw_only=True)
class BenchOutcome(Message):
    """A test that ran no benchmark, or failed before its benchmark (setup: outcome "error")."""

    kind: ClassVar[str] = "test"
    nodeid: str
    outcome: str  # pytest's: passed, failed, skipped; or error
    longrepr: str  # pytest's report, last 4000 characters ("" when it passed)
    error: str  # the failure in one line ("" when it passed)
    benchmark: bool | None = optional()  # the test used the benchmark fixture (not sent for setup errors)


@dataclass(frozen=True, kw_only=True)
class BenchResult(Message):
    """One finished benchmark with every round (pytest-benchmark's stats and names)."""

    kind: ClassVar[str] = "bench"
    nodeid: str
    name: str
    fullname: str
    group: str | None
    params: dict[str, Any] | None
    extra_info: dict[str, Any]
    iterations: int  # per round
    data: list[float]  # s per iteration, one per round
    ref: list[float] | None  # s of the reference loop around each round (calibrate = true), else None
    outcome: str
    longrepr: str
    error: str


BENCH = vocabulary(BenchCollected, BenchCollectError, BenchStarted, BenchOutcome, BenchResult)


# -- locust_plugin: the load generator


@dataclass(frozen=True, kw_only=True)
class Tick(Message):
    """One interval of the load. ``endpoints``: "METHOD name" -> ``n`` requests, ``f`` failures, ``h`` the
    interval's HDR histogram (µs, base64) and ``p`` its percentiles (s; p50, p90, p95, p99, max)."""

    kind: ClassVar[str] = "tick"
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # error kind -> count in the interval
    dt: float = 0.0  # s the interval lasted
    users: int = 0
    state: str = ""  # Locust runner's state
    workers: int = 0  # workers connected (master), else 0


@dataclass(frozen=True, kw_only=True)
class LocustQuit(Message):
    kind: ClassVar[str] = "quit"


LOAD = vocabulary(Tick, LocustQuit)


# -- leak_harness


@dataclass(frozen=True, kw_only=True)
class LeakIteration(Message):
    kind: ClassVar[str] = "iter"
    i: int  # measured call, from 0
    traced: int  # B traced by tracemalloc after the call and a full collection
    rss: int  # B resident
    s: float  # s the call took


@dataclass(frozen=True, kw_only=True)
class LeakSites(Message):
    """The allocation sites that grew most: ``file``, ``line``, ``size`` (B grown), ``count`` (blocks grown),
    ``total`` (B at the end)."""

    kind: ClassVar[str] = "top"
    sites: list[dict[str, Any]]


LEAK = vocabulary(Phase, LeakIteration, LeakSites)


# -- concurrency_harness


@dataclass(frozen=True, kw_only=True)
class HarnessHello(Message):
    kind: ClassVar[str] = "hello"
    pid: int
    is_async: bool  # the target is a coroutine function
    python: str  # version
    implementation: str
    free_threaded: bool  # a free-threaded build
    gil_enabled: bool  # the GIL is on right now


@dataclass(frozen=True, kw_only=True)
class TrialPrepare(Message):
    kind: ClassVar[str] = "prepare"
    worker: str  # threads, processes, asyncio
    level: int


@dataclass(frozen=True, kw_only=True)
class TrialStart(Message):
    kind: ClassVar[str] = "trial_start"
    worker: str
    level: int
    pid: int
    workers: list[int | None] | None = optional()  # the worker processes' pids (processes only)


@dataclass(frozen=True, kw_only=True)
class TrialProgress(Message):
    kind: ClassVar[str] = "progress"
    calls: int  # completed so far in the running trial


@dataclass(frozen=True, kw_only=True)
class TrialChecking(Message):
    kind: ClassVar[str] = "checking"
    worker: str
    level: int
    calls: int


@dataclass(frozen=True, kw_only=True)
class TrialResult(Message):
    """One worker kind at one level. Percentiles (s) come only with latencies."""

    kind: ClassVar[str] = "trial"
    worker: str
    level: int
    calls: int
    elapsed: float  # s
    blind_check: bool  # a serial check of results that are all None: it can only catch exceptions
    throughput: float  # calls per s
    p50: float | None = optional()
    p95: float | None = optional()
    p99: float | None = optional()
    max: float | None = optional()
    mean: float | None = optional()
    latencies: list[float]  # s, evenly thinned
    errors: int  # calls that raised
    first_error: str | None
    problem: str | None  # what the check found wrong, None when right


@dataclass(frozen=True, kw_only=True)
class TrialSkipped(Message):
    kind: ClassVar[str] = "skip"
    worker: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class HarnessError(Message):
    """stage "load": the target could not be imported; "trial": a trial raised."""

    kind: ClassVar[str] = "error"
    stage: str
    worker: str | None = optional()
    level: int | None = optional()
    message: str
    traceback: str | None = optional()


CONCURRENCY = vocabulary(HarnessHello, TrialPrepare, TrialStart, TrialProgress, TrialChecking, TrialResult,
                         TrialSkipped, HarnessError, Done)


# -- query_agent


@dataclass(frozen=True, kw_only=True)
class QueryConnected(Message):
    """Where the agent connected, never the DSN: a SQLite ``database`` file, or PostgreSQL's host, port and
    dbname."""

    kind: ClassVar[str] = "connected"
    engine: str
    version: str
    database: str | None = optional()
    host: str | None = optional()
    port: str | None = optional()
    dbname: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class QueryIndexes(Message):
    kind: ClassVar[str] = "indexes"
    names: list[str]  # every user index of the database


@dataclass(frozen=True, kw_only=True)
class QueryPlan(Message):
    """A statement's plan: ``scans`` are full scans (``table``, ``rows``, ``detail``, ``large``)."""

    kind: ClassVar[str] = "plan"
    name: str
    format: str  # sqlite or postgres-json
    plan: Any  # SQLite's plan rows, or PostgreSQL's EXPLAIN JSON
    indexes: list[str]
    scans: list[dict[str, Any]]
    execution_time: float | None = optional()  # s (PostgreSQL)
    planning_time: float | None = optional()  # s (PostgreSQL)
    shared_hit_blocks: int | None = optional()
    shared_read_blocks: int | None = optional()


@dataclass(frozen=True, kw_only=True)
class QueryLatencies(Message):
    """Twice a second while a statement is timed: latencies (s) since the last batch, thinned."""

    kind: ClassVar[str] = "lat"
    name: str
    values: list[float]
    count: int  # latencies the batch stands for
    done: int  # executions completed so far


@dataclass(frozen=True, kw_only=True)
class QueryStatement(Message):
    kind: ClassVar[str] = "stmt"
    name: str
    latencies: list[float]  # s, one per execution
    elapsed: float  # s of wall time
    rows: int  # rows the statement returned
    connections: int
    params: int  # parameter rows prepared


@dataclass(frozen=True, kw_only=True)
class QueryError(Message):
    """stage: connect, setup, sql (then ``name`` is the statement) or params."""

    kind: ClassVar[str] = "error"
    stage: str
    message: str
    name: str | None = optional()
    host: str | None = optional()  # stage "connect": where the server was expected
    port: int | None = optional()


QUERY = vocabulary(QueryConnected, QueryIndexes, Phase, QueryPlan, QueryLatencies, QueryStatement, QueryError,
                   Done)


# -- memray_heap: the heap over time, read from a memray capture while it is written


@dataclass(frozen=True, kw_only=True)
class HeapPoint(Message):
    """memray's heap (bytes allocated and not yet freed) at ``t``: the largest of one bucket of memray's own
    memory snapshots."""

    kind: ClassVar[str] = "heap"
    t: float  # s since the session started (memray's wall-clock time of the snapshot)
    heap: float  # B


HEAP = vocabulary(HeapPoint)
