"""The Runner protocol, the run context runners talk through, and the registry (test type -> runner).

A runner builds argv, starts children through ``ctx.spawn`` (so the engine can reap them), turns the
tool's output into events with ``ctx.emit`` and returns a Result. It never knows which front end watches.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from perflab.core import testtypes
from perflab.core.model import (
    Artifact,
    Event,
    Labels,
    Level,
    Log,
    Notice,
    PerflabError,
    Phase,
    Profile,
    Result,
    Sample,
    Table,
    labels,
)
from perflab.runners.process import Child, RecordHandler


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
    ) -> None:
        self.session_id = session_id
        self._emit = emit
        self.artifacts_dir = artifacts_dir
        self.workdir = workdir or Path.cwd()
        self._watch = watch
        self.t0 = time.monotonic() if t0 is None else t0
        self.children: list[Child] = []

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
        """Start a supervised child whose stdout/stderr become Log events; the engine reaps it.

        ``source`` names the child in logs; ``role`` is what the process monitor labels its samples with
        (target, server, generator, tool).
        """

        def on_line(stream: str, line: str) -> None:
            self._emit(Log(self.now(), line, stream, source))

        child = Child(argv, cwd=cwd or self.workdir, env=env, name=source, on_line=on_line,
                      on_record=on_record, side_channel=side_channel)
        await child.start()
        self.children.append(child)
        if monitor:
            self.watch(child.pid, role)
        return child

    async def reap(self) -> None:
        """Stop every child still alive (the engine calls this after every run, however it ended)."""
        for child in self.children:
            if child.proc is not None:
                await child.stop(interrupt_grace=1.0, term_grace=1.0)


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
    return getattr(importlib.import_module(module), cls)()  # type: ignore[no-any-return]
