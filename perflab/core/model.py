"""The domain's frozen data: profiles, events, results.

Every value that crosses a module boundary is one of these. Units are SI base units throughout:
seconds, bytes, counts, ratios (1.0 = 100 %). Event times are seconds since the session started,
on a monotonic clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any

Labels = tuple[tuple[str, str], ...]


def labels(**kw: object) -> Labels:
    """Build a canonical (sorted) label tuple; values become strings."""
    return tuple(sorted((k, str(v)) for k, v in kw.items() if v is not None))


def label_dict(lbls: Labels) -> dict[str, str]:
    return dict(lbls)


class Status(StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"


class ExitCode(IntEnum):
    """Documented process exit codes (README, "Exit codes")."""

    OK = 0
    FAILED = 1  # a threshold or gate failed
    BAD_INPUT = 2  # malformed profile, missing target, corrupt store or baseline
    RUNNER_ERROR = 3  # the tool or the target failed
    INTERNAL_ERROR = 4  # perflab itself failed (a bug): one line, traceback in a log file
    INTERRUPTED = 130  # Ctrl-C or SIGTERM


STATUS_EXIT = {
    Status.PASSED: ExitCode.OK,
    Status.FAILED: ExitCode.FAILED,
    Status.ERROR: ExitCode.RUNNER_ERROR,
    Status.CRASHED: ExitCode.RUNNER_ERROR,
    Status.INTERRUPTED: ExitCode.INTERRUPTED,
    Status.RUNNING: ExitCode.RUNNER_ERROR,
}


class PerflabError(Exception):
    """A problem the user can fix. Printed as one line, never a traceback."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ToolError(PerflabError):
    """The measuring tool or the target failed (exit 3)."""

    exit_code = ExitCode.RUNNER_ERROR


# ---------------------------------------------------------------- profiles


def _frozen(m: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class Target:
    """What is measured. ``kind`` is one of TARGET_KINDS; ``value`` its main value (callable ref, path, url, ...)."""

    kind: str
    value: Any
    options: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))

    def describe(self) -> str:
        if isinstance(self.value, list | tuple):
            return f"{self.kind}: {' '.join(map(str, self.value))}"
        return f"{self.kind}: {self.value}"


TARGET_KINDS = ("callable", "pytest", "script", "command", "locustfile", "url", "endpoints", "pid", "sql")


@dataclass(frozen=True)
class TestSpec:
    __test__ = False  # not a pytest class

    type: str
    params: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    target: Target
    test: TestSpec
    thresholds: tuple[str, ...] = ()
    timeout: float | None = None  # seconds for the whole run
    tolerance: float = 0.05  # minimum effect size for baseline comparison (ratio)
    monitor_hz: float = 10.0
    log_limit: int = 4 << 20  # bytes of target output stored per session (runners/framework/output.py)
    secrets: tuple[str, ...] = ()  # names of environment variables whose values must never be stored
    path: str | None = None
    text: str = ""
    extra: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Sample:
    """One numeric observation. ``series`` is dotted and stable (``bench.round``, ``proc.rss``)."""

    t: float
    series: str
    value: float
    labels: Labels = ()


@dataclass(frozen=True, slots=True)
class Log:
    t: float
    line: str
    stream: str = "stdout"  # stdout | stderr
    source: str = "target"  # which process: target, tool, server, worker-1, ...


@dataclass(frozen=True, slots=True)
class Phase:
    """A change of phase: ``name`` is short and stable (warmup, measure, step), ``detail`` is for people."""

    t: float
    name: str
    detail: str = ""
    progress: float | None = None  # 0..1 of the whole run, when the runner knows it


@dataclass(frozen=True, slots=True)
class Table:
    """A small table that replaces the previous one of the same name (top functions, top allocators). Its
    cells are typed like a SummaryTable's (``Cell``: text, numbers, Quantity, None)."""

    t: float
    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file the run wrote; ``path`` is absolute or relative to the session's artifact folder."""

    t: float
    kind: str  # flamegraph, speedscope, memray, pytest-benchmark-json, locust-csv, ...
    path: str
    description: str = ""


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a person must see during the run: a threshold breach, a saturated load generator."""

    t: float
    level: Level
    message: str
    code: str = ""  # stable machine key, e.g. threshold.breach, generator.saturated


@dataclass(frozen=True, slots=True)
class Finished:
    t: float
    status: Status
    message: str = ""


Event = Sample | Log | Phase | Table | Artifact | Notice | Finished
EVENT_KINDS: dict[str, type] = {
    "sample": Sample,
    "log": Log,
    "phase": Phase,
    "table": Table,
    "artifact": Artifact,
    "notice": Notice,
    "finished": Finished,
}
KIND_OF: dict[type, str] = {v: k for k, v in EVENT_KINDS.items()}


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Metric:
    """A final figure thresholds and baselines key on. ``unit`` is s, B, ratio, count or /s."""

    name: str
    value: float
    unit: str = ""
    labels: Labels = ()
    comparable: bool = True  # False for timings taken under memray/tracemalloc: never gated

    def key(self) -> str:
        if not self.labels:
            return self.name
        return self.name + "{" + ",".join(f"{k}={v}" for k, v in self.labels) + "}"


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number with its unit, for a table cell: ``value`` in SI base units, ``unit`` one of the names
    core.units.value formats: ``s`` (seconds), ``B`` (bytes), ``/s`` (per second), ``%`` (a ratio shown as a
    percentage: 0.25 is 25 %), ``ratio`` (shown as 1.25x), ``count``, ``ref`` (reference-loop units) or ``""``
    (a plain number). NaN means "not measured"."""

    value: float
    unit: str = ""


# A table cell: text (a name, a location, a verdict), a plain number, a number with its unit, or None for
# "no value" (shown as "-"). Only report/ and the widgets turn cells into text (report.cells.text).
Cell = str | int | float | Quantity | None


@dataclass(frozen=True)
class SummaryTable:
    """A summary table of typed cells (``Cell``); runners never format numbers for it."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True, slots=True)
class Note:
    """One line of a result's summary for people: ``text`` is a sentence, ``level`` how loud it is, ``kind`` a
    stable key that code may test instead of parsing the text ("" for a plain remark). Kinds in use:

    * ``threshold.ok``, ``threshold.breach`` (error), ``threshold.unmatched`` (core.thresholds.apply);
    * ``baseline.passed``, ``baseline.slower`` (error: the gate failed), ``baseline.inconclusive``,
      ``baseline.unstable``, ``baseline.machine`` (the baseline is from another machine), ``baseline.missing``
      (core.compare.Comparison.notes); ``baseline.calibration`` (a verdict judged relative to the reference
      loop whose seconds moved the other way); ``baseline.where`` (the top functions of a slower instruction
      count, core.counts.where_notes);
    * ``bottleneck`` (one per monitored role) and ``load.limit`` (core.bottleneck.annotate);
    * ``not_comparable`` (timings taken under a memory profiler), ``output.truncated`` (target output beyond
      the profile's log_limit), ``run.store`` (the store could not record the run), ``run.partial`` (a stopped
      run's figures cover only the time until the stop; lab.partial);
    * runners: ``generator.saturated``, ``load.worker_died``, ``load.model``, ``load.partial``,
      ``server.memory_missing``, ``stress.breaking_point``, ``stress.knee``, ``stress.recovery``, ``leak.growth``,
      ``leak.site``, ``sampling.errors``, ``sampling.garbled``, ``query.full_scan``, ``query.failed``,
      ``concurrency.failed``, ``concurrency.skipped``, ``concurrency.blind_check``, ``concurrency.deadlock``,
      ``concurrency.efficiency`` (an efficiency above 100 % explained),
      ``instructions.aslr``, ``instructions.spawned``, ``instructions.partial``, ``bench.processes`` (how many
      processes a timed benchmark ran, and why).
    """

    text: str
    level: Level = Level.INFO
    kind: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Result:
    """What a runner concludes.

    ``metrics`` feed thresholds and baselines; ``raw`` maps a metric key to the raw samples behind it
    (per process) so comparisons can test significance; ``data`` is the test type's JSON-able payload;
    ``tables`` and ``notes`` are the human summary, typed (cells with units, notes with a level and a kind) so
    that only report/ and the UI make text of them.
    """

    status: Status
    message: str = ""
    metrics: tuple[Metric, ...] = ()
    raw: Mapping[str, tuple[tuple[float, ...], ...]] = field(default_factory=lambda: _frozen(None))
    data: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))
    tables: tuple[SummaryTable, ...] = ()
    notes: tuple[Note, ...] = ()

    def metric(self, name: str, **lbls: object) -> Metric | None:
        want = labels(**lbls)
        for m in self.metrics:
            if m.name == name and all(item in m.labels for item in want):
                return m
        return None
