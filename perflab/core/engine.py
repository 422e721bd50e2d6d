"""Run one profile: start its runner and the process monitor, fan events out to sinks, end with a Result.

Cancellation (a user's stop, Ctrl-C, SIGTERM) and the profile's timeout are handled here, once, for every
runner: the runner task is cancelled, every child it started is reaped, and the session ends with a status.

The engine imports no runner: the caller (perflab.lab) hands it the runner lookup and the context class
(runners.framework.base), so the domain core depends on nothing above it. The lookup runs inside the run, so
an unknown test type or a runner that fails to load ends the session with a status like any other error.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from perflab.core import redact
from perflab.core.compare import Comparison
from perflab.core.model import (
    STATUS_EXIT,
    Event,
    ExitCode,
    Finished,
    Level,
    Log,
    Notice,
    PerflabError,
    Phase,
    Profile,
    Result,
    Status,
)
from perflab.core.monitor import ProcessMonitor

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Receives every event of a run, in order, on the engine's event loop. Must not block for long."""

    def handle(self, event: Event) -> None: ...


class Context(Protocol):
    """What the engine itself needs of the context it gives the runner (runners.framework.base.RunContext)."""

    def sweep_leftovers(self) -> None: ...

    async def halt(self, task: asyncio.Task[Any]) -> None: ...

    async def reap(self) -> None: ...


class ContextFactory(Protocol):
    def __call__(self, *, session_id: str, emit: Callable[[Event], None], artifacts_dir: Path, workdir: Path,
                 watch: Callable[[int, str], None] | None, t0: float) -> Context: ...


class Runner(Protocol):
    async def run(self, profile: Profile, ctx: Any) -> Result: ...


@dataclass(frozen=True)
class Outcome:
    session_id: str
    result: Result
    exit_code: ExitCode
    duration: float  # seconds of wall time
    comparison: Comparison | None = None  # the regression gate's, when the run was judged against a baseline


class Engine:
    def __init__(
        self,
        profile: Profile,
        sinks: Iterable[Sink],
        *,
        runner_for: Callable[[str], Runner],
        context: ContextFactory,
        session_id: str,
        artifacts_dir: Path,
        workdir: Path | None = None,
        monitor: bool = True,
        finalize: Callable[[Profile, Result], Result] | None = None,
    ) -> None:
        """``finalize`` receives every result (whatever its status) before the Finished event and returns the
        verdict that event carries: the application layer judges thresholds and the baseline there. Without
        it, a passed or failed result is judged against the profile's thresholds only."""
        self.profile = profile
        self.sinks = list(sinks)
        self.runner_for = runner_for  # test type -> runner
        self.context = context
        self.session_id = session_id
        self.artifacts_dir = artifacts_dir
        self.workdir = workdir or Path.cwd()
        self.t0 = time.monotonic()
        self.monitor = ProcessMonitor(self.emit, hz=profile.monitor_hz, clock=self.now) if monitor else None
        self.finalize = finalize
        self._stop_reason: Status | None = None
        self._stop_event: asyncio.Event | None = None
        self.events = 0
        self._failed_sinks: set[int] = set()  # id() of sinks whose failure the front ends were told of
        if profile.thresholds and importlib.util.find_spec("perflab.core.thresholds") is not None:
            from perflab.core.thresholds import ThresholdWatcher  # live breaches become Notice events

            self.sinks.append(ThresholdWatcher(profile, self.emit, self.now))

    def now(self) -> float:
        return time.monotonic() - self.t0

    def emit(self, event: Event) -> None:
        self.events += 1
        if redact.REGISTRY:  # secrets never reach a sink: store, front ends, thresholds alike
            event = redact.event(event)
        for sink in self.sinks:
            try:
                sink.handle(event)
            except Exception as e:  # a broken sink must not kill the measurement, nor fail unseen
                self.sink_failed(sink, e)

    def sink_failed(self, sink: Sink, error: BaseException) -> None:
        """Tell every other sink (the front ends among them), once per failing sink, with an error Notice whose
        code is the sink's ``error_code`` (``sink.failed`` by default); the run goes on. Sinks that report their
        own failures out of band (the recorder's timed flushes) call this too."""
        log.debug("sink %r failed", sink, exc_info=error)  # no traceback on the console: the Notice says it
        if id(sink) in self._failed_sinks:
            return
        self._failed_sinks.add(id(sink))
        text = str(error) if isinstance(error, PerflabError) else \
            f"{type(sink).__name__} failed: {type(error).__name__}: {error}"
        notice = Notice(self.now(), Level.ERROR, text, getattr(sink, "error_code", "sink.failed"))
        self.events += 1
        for other in self.sinks:
            if other is sink:
                continue
            try:
                other.handle(notice)
            except Exception as e:
                self.sink_failed(other, e)

    def stop(self, reason: Status = Status.INTERRUPTED) -> None:
        """Ask the run to stop (thread-unsafe: call on the engine's loop, or via loop.call_soon_threadsafe)."""
        self._stop_reason = reason
        if self._stop_event is not None:
            self._stop_event.set()

    async def run(self) -> Outcome:
        self._stop_event = asyncio.Event()
        if self._stop_reason is not None:
            self._stop_event.set()
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        ctx = self.context(
            session_id=self.session_id,
            emit=self.emit,
            artifacts_dir=self.artifacts_dir,
            workdir=self.workdir,
            watch=self.monitor.watch if self.monitor else None,
            t0=self.t0,
        )
        self.emit(Phase(self.now(), "start", f"{self.profile.test.type}: {self.profile.target.describe()}", 0.0))
        ctx.sweep_leftovers()  # processes a perflab that died (kill -9) left behind
        monitor_task = asyncio.create_task(self.monitor.run()) if self.monitor else None
        exit_code: ExitCode | None = None
        crash: BaseException | None = None
        try:
            runner = self.runner_for(self.profile.test.type)
            task = asyncio.create_task(runner.run(self.profile, ctx))
            stopper = asyncio.create_task(self._stop_event.wait())
            try:
                done, _ = await asyncio.wait({task, stopper}, timeout=self.profile.timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                self._stop_reason = self._stop_reason or Status.INTERRUPTED
                done = set()
            stopper.cancel()
            if task in done:
                result = task.result()
            else:
                timed_out = self._stop_reason is None
                if timed_out:  # a hard limit, honoured within a second: no interactive grace periods
                    await ctx.halt(task)
                task.cancel()
                partial: Result | None = None
                if not timed_out or task.done():
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        partial = await task  # a runner may answer a stop with what it measured so far
                if self._stop_reason is not None:
                    status = Status.INTERRUPTED if self._stop_reason == Status.INTERRUPTED else self._stop_reason
                    result = Result(status, "stopped before the end")
                    if isinstance(partial, Result):
                        result = replace(partial, status=status, message="stopped before the end (partial results)")
                else:
                    result = Result(Status.ERROR, f"timed out after {self.profile.timeout:g} s")
                    self.emit(Notice(self.now(), Level.ERROR, result.message, "run.timeout"))
        except PerflabError as e:
            result = Result(Status.ERROR, str(e))
            exit_code = e.exit_code
        except Exception as e:  # an internal bug: record it, clean up, then let it surface
            result = Result(Status.ERROR, f"internal error: {type(e).__name__}: {e}")
            for line in traceback.format_exc().splitlines():
                self.emit(Log(self.now(), line, "stderr", "perflab"))
            crash = e
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(ctx.reap())
            if monitor_task is not None:
                monitor_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await monitor_task
        if self.monitor is not None:
            self.monitor.close()  # its kept /proc descriptors, even if the task was cancelled before it ran
            result = replace(result, data={**result.data, "monitor": self.monitor.summary()})
            from perflab.core import bottleneck

            result = bottleneck.annotate(result)
        if self.finalize is not None:  # every result, so the final verdict is decided before Finished
            result = self.finalize(self.profile, result)
        elif result.status in (Status.PASSED, Status.FAILED):
            result = apply_thresholds(self.profile, result, self.emit, self.now)
        self.emit(Finished(self.now(), result.status, result.message))
        if crash is not None:
            raise crash
        code = exit_code if exit_code is not None else STATUS_EXIT[result.status]
        return Outcome(self.session_id, result, code, self.now())


def apply_thresholds(profile: Profile, result: Result, emit: Callable[[Event], None],
                     now: Callable[[], float]) -> Result:
    """Evaluate the profile's thresholds with core.thresholds, when that module is present."""
    if not profile.thresholds or importlib.util.find_spec("perflab.core.thresholds") is None:
        return result
    from perflab.core import thresholds

    evaluate = getattr(thresholds, "apply", None)
    if evaluate is None:
        return result
    out: Result = evaluate(profile, result)
    for note in out.notes[len(result.notes):]:  # apply only appends its notes
        if note.kind == "threshold.breach":
            emit(Notice(now(), note.level, note.text, note.kind))
    return out
