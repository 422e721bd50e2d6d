"""The Runner protocol, the run context runners talk through, and the registry (test type -> runner).

A runner builds argv, starts children through ``ctx.spawn`` (so the engine can reap them), turns the
tool's output into events with ``ctx.emit`` and returns a Result. It never knows which front end watches.

Children's stdout/stderr become Log events within the session's output budget (framework/output.py); what was
left out becomes a note on the runner's Result and a Notice. After the run, :meth:`RunContext.reap` stops
every child's tree and any orphan the subreaper adopted during the run; on the profile's timeout
:meth:`RunContext.halt` does the same at once (SIGTERM, SIGKILL shortly after) and refuses new children.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

from perflab.core import testtypes
from perflab.core.model import (
    Artifact,
    Event,
    Labels,
    Level,
    Log,
    Note,
    Notice,
    PerflabError,
    Phase,
    Profile,
    Result,
    Sample,
    Table,
    labels,
)
from perflab.core.runplan import RunPlan
from perflab.runners.framework import reaper
from perflab.runners.framework import watchdog as wd
from perflab.runners.framework.output import DEFAULT_LIMIT, SessionLog
from perflab.runners.framework.process import Child, RecordHandler, started_pids

HALT_TERM_GRACE = 0.25  # s between SIGTERM and SIGKILL when the timeout stops a run
HALT_CLEANUP = 0.35  # s the cancelled runner gets for its own clean-up before it is cancelled again
HALT_BUDGET = 0.8  # s from the timeout until the runner task is given up on


class RunContext:
    """What a runner may use: the clock, the event sink, the artifact folder, children and the monitor."""

    def __init__(
        self,
        *,
        session_id: str,
        emit: Callable[[Event], None],
        artifacts_dir: Path,
        workdir: Path | None = None,
        watch: Callable[[int, str], None] | None = None,
        t0: float | None = None,
        plan: RunPlan | None = None,
    ) -> None:
        self.session_id = session_id
        self.plan = plan  # the baseline ahead and whether the run will be saved (core.runplan); None: neither
        self._emit = emit
        self.artifacts_dir = artifacts_dir
        self.workdir = workdir or Path.cwd()
        self._watch = watch
        self.t0 = time.monotonic() if t0 is None else t0
        self.children: list[Child] = []
        self.output = SessionLog(lambda source, stream, line: self._emit(Log(self.now(), line, stream, source)),
                                 DEFAULT_LIMIT)
        self._output_note: str | None = None
        self.closed = False  # after a timeout: no new child may start
        # only orphans started after the session began are candidates for adoption-based cleanup
        self._since = wd.now_ticks() - 1 if os.path.exists("/proc/uptime") else 0

    # -- clock and events
    def now(self) -> float:
        """Seconds since the session started (monotonic)."""
        return time.monotonic() - self.t0

    def emit(self, event: Event) -> None:
        self._emit(event)

    def sample(self, series: str, value: float, lbls: Labels = (), **kw: object) -> None:
        self._emit(Sample(self.now(), series, float(value), lbls or labels(**kw)))

    def log(self, line: str, stream: str = "stdout", source: str = "target") -> None:
        self._emit(Log(self.now(), line, stream, source))

    def phase(self, name: str, detail: str = "", progress: float | None = None) -> None:
        self._emit(Phase(self.now(), name, detail, progress))

    def table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self._emit(Table(self.now(), name, tuple(columns), tuple(tuple(r) for r in rows)))

    def artifact(self, kind: str, path: str | os.PathLike[str], description: str = "") -> None:
        self._emit(Artifact(self.now(), kind, str(path), description))

    def notice(self, message: str, level: Level = Level.WARNING, code: str = "") -> None:
        self._emit(Notice(self.now(), level, message, code))

    # -- processes
    def watch(self, pid: int, role: str = "target") -> None:
        """Ask the engine's process monitor to sample this process tree."""
        if self._watch is not None:
            self._watch(pid, role)

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        source: str = "target",
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        on_record: RecordHandler | None = None,
        side_channel: bool = True,
        monitor: bool = True,
        role: str = "target",
    ) -> Child:
        """Start a supervised child whose stdout/stderr become Log events (within the session's output budget);
        the engine reaps it. After the timeout stopped the run it raises CancelledError instead.

        ``source`` names the child in logs; ``role`` is what the process monitor labels its samples with
        (target, server, generator, tool).
        """

        if self.closed:
            raise asyncio.CancelledError("the run was stopped")

        def on_output(stream: str, block: bytes) -> None:
            self.output.feed(source, stream, block)

        child = Child(argv, cwd=cwd or self.workdir, env=env, name=source, on_output=on_output,
                      on_record=on_record, side_channel=side_channel, unbuffered=role in ("server", "generator"))
        await child.start()
        self.children.append(child)
        if monitor:
            self.watch(child.pid, role)
        return child

    async def reap(self) -> None:
        """Stop every child's tree, and orphans adopted during the run (the engine calls this after every run,
        however it ended); then store the rest of the output."""
        await self._stop_all(interrupt_grace=1.0, term_grace=1.0)
        self.flush_output()

    async def halt(self, task: asyncio.Task[Any]) -> None:
        """The profile's timeout: stop everything now, then cancel the runner, within about HALT_BUDGET s.

        No new child may start; every tree gets SIGTERM then, ``HALT_TERM_GRACE`` s later, SIGKILL (the
        interactive grace periods would let a target run on for seconds); the runner task is cancelled and
        given ``HALT_CLEANUP`` s for its clean-up, then cancelled again until it ends or the budget is spent.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HALT_BUDGET
        self.closed = True
        await self._stop_all(interrupt_grace=0.0, term_grace=HALT_TERM_GRACE)
        task.cancel()
        await asyncio.wait({task}, timeout=max(0.0, min(HALT_CLEANUP, deadline - loop.time())))
        while not task.done() and loop.time() < deadline:
            task.cancel()  # a clean-up awaiting a child (or a report) is interrupted too
            await asyncio.wait({task}, timeout=0.05)
        await self._stop_all(interrupt_grace=0.0, term_grace=HALT_TERM_GRACE)  # whatever the clean-up started

    async def _stop_all(self, *, interrupt_grace: float, term_grace: float) -> None:
        children = [c for c in self.children if c.proc is not None and not c.finished]
        await asyncio.gather(*(c.stop(interrupt_grace=interrupt_grace, term_grace=term_grace) for c in children),
                             return_exceptions=True)
        await self._stop_adopted(term_grace)

    async def _stop_adopted(self, grace: float) -> None:
        """Orphans re-parented to perflab (the subreaper) that carry no token: a daemon with a wiped environment."""
        reaper.reap_adopted_zombies(started_pids())
        orphans = reaper.adopted(self._since, started_pids())
        if not orphans:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid, start in orphans.items():
                if wd.alive(pid, start):
                    with contextlib.suppress(OSError):
                        os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(wd.alive(p, s) for p, s in orphans.items()):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        reaper.reap_zombies(set(orphans))

    def flush_output(self) -> str | None:
        """Emit the kept tail of the output; a Notice the first time something was left out. Returns the note."""
        note = self.output.flush()
        if note is not None and note != self._output_note:
            self._output_note = note
            self.notice(note, Level.WARNING, "output.truncated")
        return note

    def sweep_leftovers(self) -> None:
        """End processes that perflab sessions which died without cleaning up left behind (reaper.sweep)."""
        killed = reaper.sweep()
        if killed:
            self.notice(f"ended {len(killed)} process(es) left running by a perflab that died earlier",
                        Level.WARNING, "orphans.swept")


class Runner(Protocol):
    test_type: ClassVar[str]

    async def run(self, profile: Profile, ctx: RunContext) -> Result: ...


def runner_for(test_type: str) -> Runner:
    """Instantiate the runner of a test type (imports it lazily)."""
    tt = testtypes.get(test_type)
    if tt is None:
        raise PerflabError(f"unknown test type {test_type!r}")
    if not tt.built:
        raise PerflabError(f"the {test_type} test type is not available yet: {tt.note}")
    module, _, cls = tt.runner.partition(":")
    return _Bounded(getattr(importlib.import_module(module), cls)())


class _Bounded:
    """A runner whose children's output is bounded per session: the kept tail is stored when it ends, and the
    note about what was left out joins its Result."""

    test_type: ClassVar[str] = ""  # the wrapped runner's is ``self.runner.test_type``

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def run(self, profile: Profile, ctx: RunContext) -> Result:
        ctx.output.set_limit(profile.log_limit)
        try:
            result = await self.runner.run(profile, ctx)
        finally:
            note = ctx.flush_output()
        if note is not None and all(n.text != note for n in result.notes):
            result = replace(result, notes=(*result.notes, Note(note, Level.WARNING, "output.truncated")))
        return result
