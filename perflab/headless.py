"""The scripted front end: run profiles through core.engine with rich progress, store sessions, summarise.

Exit codes (perflab.cli.EXIT_CODES_HELP): 0 all passed, 1 a threshold or gate failed, 2 bad input, 3 a runner
or target error, 4 an internal error of perflab, 130 interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from perflab.core import profiles, redact, units
from perflab.core.engine import Engine, Outcome
from perflab.core.model import (
    Event,
    ExitCode,
    Finished,
    Level,
    Notice,
    PerflabError,
    Phase,
    Profile,
    Sample,
    Status,
)
from perflab.lab import outputs
from perflab.lab import session as lab
from perflab.lab.baselines import BaselinePolicy, Baselines
from perflab.report.console import make_console, print_result
from perflab.store.sessions import SessionStore, StoreError, default_root

EXIT_PRIORITY = (ExitCode.INTERRUPTED, ExitCode.INTERNAL_ERROR, ExitCode.BAD_INPUT, ExitCode.RUNNER_ERROR,
                 ExitCode.FAILED, ExitCode.OK)


def worst(codes: Sequence[ExitCode]) -> ExitCode:
    for code in EXIT_PRIORITY:
        if code in codes:
            return code
    return ExitCode.OK


@dataclass
class HeadlessOptions:
    profiles: list[str]
    store: str | None = None
    json_path: str | None = None
    quiet: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


# The processes being measured (a load generator's own CPU is watched by its runner, not shown here).
MEASURED_ROLES = ("target", "server")


class ProgressSink:
    """Shows one progress bar per profile: phase detail, fraction done, live CPU and RSS of the target and/or
    the server under test."""

    def __init__(self, progress: Progress, console: Console, name: str) -> None:
        self.progress = progress
        self.console = console
        self.task = progress.add_task(name, total=1.0, detail="starting", live="")
        self.live: dict[str, list[float]] = {}  # role -> [cpu (cores), rss (bytes)]
        self._last = 0.0

    def handle(self, event: Event) -> None:
        if isinstance(event, Phase):
            kw: dict[str, Any] = {"detail": event.detail[:60]}
            if event.progress is not None:
                kw["completed"] = event.progress
            self.progress.update(self.task, **kw)
        elif isinstance(event, Sample):
            if event.series in ("proc.cpu", "proc.rss"):
                role = dict(event.labels).get("role", "target")
                if role in MEASURED_ROLES:
                    self.live.setdefault(role, [0.0, 0.0])[event.series == "proc.rss"] = event.value
            now = time.monotonic()
            if now - self._last > 0.25 and self.live:
                self._last = now
                shown = [f"{role} cpu {v[0] * 100:.0f}% rss {units.size(v[1])}" for role, v in self.live.items()]
                self.progress.update(self.task, live=" | ".join(shown))
        elif isinstance(event, Notice):
            if event.code == "baseline.compare":  # the comparison's notes are printed with the result
                return
            style = "red" if event.level == Level.ERROR else "yellow"
            self.progress.console.print(f"[{style}]{event.level.value}: {escape(redact.text(event.message))}[/]")
        elif isinstance(event, Finished):
            self.progress.update(self.task, completed=1.0 if event.status == Status.PASSED else None,
                                 detail=event.status.value)


def _install_signals(loop: asyncio.AbstractEventLoop, engine: Engine) -> list[int]:
    installed: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, engine.stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    return installed


def run_profile(profile: Profile, root: Path, console: Console, plan: Baselines, *,
                quiet: bool = False) -> Outcome:
    """Run one profile as a recorded session (lab.session.run_session, the app's path too) with progress bars;
    SIGINT and SIGTERM stop the engine, which ends the session as interrupted (exit 130)."""
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                        TextColumn("{task.fields[live]}"), TextColumn("[dim]{task.fields[detail]}"),
                        console=console, transient=False, disable=quiet)
    sink = ProgressSink(progress, console, profile.name)

    async def go() -> Outcome:
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        try:
            return await lab.run_session(profile, root, [sink], plan=plan,
                                         on_engine=lambda engine: installed.extend(_install_signals(loop, engine)))
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    with progress:
        return asyncio.run(go())


def run_profiles(opts: HeadlessOptions) -> int:
    console = make_console()
    err = Console(stderr=True, highlight=False, soft_wrap=True)  # never wrap: one problem = one line
    try:
        loaded = profiles.load_all(opts.profiles)
    except profiles.ProfileError as e:
        err.print(str(e), markup=False)
        return int(ExitCode.BAD_INPUT)
    for p in loaded:  # before anything runs or prints: every output below goes through core.redact
        redact.register_env(p.secrets)
    try:  # every baseline is read and checked before a run
        plan = Baselines.prepare(BaselinePolicy.from_extras(opts.extras), loaded)
    except PerflabError as e:  # a bad baseline stops everything before a run: one line, exit 2
        err.print(f"perflab: {e}", markup=False)
        return int(e.exit_code)
    unrecorded: list[ExitCode] = []  # a session the store could not create: nothing ran
    outcomes: list[tuple[Profile, Outcome]] = []
    with SessionStore(default_root(opts.store)) as store:
        for profile in loaded:
            try:
                outcome = run_profile(profile, store.root, console, plan, quiet=opts.quiet)
            except StoreError as e:  # one line and its exit code (3 for a full disk), never a traceback
                err.print(f"perflab: {e}", markup=False)
                unrecorded.append(e.exit_code)
                break
            print_result(console, profile.name, outcome.result, outcome.session_id, outcome.duration)
            outcomes.append((profile, outcome))
            if outcome.exit_code == ExitCode.INTERRUPTED:
                break
    wanted = outputs.Outputs(json=opts.json_path, junit=opts.extras.get("junit"),
                             markdown=opts.extras.get("markdown"))
    done, failed = outputs.write(wanted, outcomes)
    for line in done:
        console.print(f"[dim]{escape(line)}[/]")
    for line in failed:  # the runs are stored; only this file is missing
        err.print(f"perflab: {line}", markup=False)
    codes = [o.exit_code for _, o in outcomes] + unrecorded + [ExitCode.RUNNER_ERROR] * bool(failed)
    if len(outcomes) > 1:
        passed = sum(1 for _, o in outcomes if o.exit_code == ExitCode.OK)
        console.print(f"{passed} of {len(loaded)} profiles passed")
    return int(worst(codes))


def main_error(message: str, code: ExitCode) -> int:
    print(f"perflab: {message}", file=sys.stderr)
    return int(code)
