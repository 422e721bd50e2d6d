"""The headless regression gate: baselines before and after each run, and the CI output files.

Policy (README, "baselines"):

* A baseline ``<baseline-dir>/<profile>.json`` that exists is compared with automatically; ``--no-baseline``
  skips it. Every baseline is read *before* any profile runs, so a corrupt, truncated, newer or foreign file
  stops the run at once (exit 2) and is never touched.
* With ``--save-baseline`` or ``--update-baseline`` the baseline folder must be writable, checked before any
  profile runs (exit 2): a run whose result could not be kept is not started.
* ``--save-baseline`` writes the run as the new baseline (no comparison) when the run passed its thresholds.
* ``--update-baseline`` compares first and replaces the baseline only when the run passed every gate
  (thresholds, no "slower" and no "unstable" verdict); with no baseline yet it creates one. A failed run never becomes the
  reference, so a regression cannot quietly become the new normal.
* A baseline from another machine (fingerprint differs) is reported loudly; ``--strict-machine`` makes it an
  error (exit 2) before anything runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from perflab.core import machine
from perflab.core.compare import Comparison
from perflab.core.judge import judge
from perflab.core.model import ExitCode, PerflabError, Profile, Status
from perflab.core.stats import Verdict
from perflab.report import compare as compare_report
from perflab.report.console import rich_table
from perflab.report.markdown import ProfileReport
from perflab.store import baselines
from perflab.store.baselines import Baseline

if TYPE_CHECKING:
    from rich.console import Console

    from perflab.core.engine import Outcome
    from perflab.store.sessions import SessionStore


@dataclass(frozen=True)
class GateOptions:
    baseline_dir: str | None = None
    save: bool = False
    update: bool = False
    no_baseline: bool = False
    strict_machine: bool = False
    junit: str | None = None
    markdown: str | None = None

    @classmethod
    def from_extras(cls, extras: dict[str, Any]) -> GateOptions:
        return cls(**{k: v for k, v in extras.items() if k in cls.__dataclass_fields__})


class Gates:
    """Loads baselines before the runs, judges each outcome, writes baselines and CI reports."""

    def __init__(self, opts: GateOptions, profiles: Sequence[Profile]) -> None:
        if opts.save and opts.update:
            raise PerflabError("--save-baseline and --update-baseline exclude each other")
        if opts.no_baseline and (opts.save or opts.update):
            raise PerflabError("--no-baseline cannot be combined with --save-baseline or --update-baseline")
        self.opts = opts
        self.folder = baselines.default_dir(opts.baseline_dir)
        self.here = machine.fingerprint()
        self.git = machine.git_info()
        self.baselines: dict[str, Baseline | None] = {}
        self.reports: list[ProfileReport] = []
        if opts.save or opts.update:  # a run whose baseline cannot be written must not run at all
            baselines.check_folder_writable(self.folder)
        for p in profiles:
            path = baselines.path_for(p.name, self.folder)
            if opts.save or opts.update:
                baselines.check_writable(path, p.name)
            if opts.no_baseline or opts.save or not path.exists():
                self.baselines[p.name] = None
                continue
            b = baselines.read(path, profile=p.name)
            if opts.strict_machine:
                diffs = machine.differences(dict(b.machine), self.here)
                if diffs:
                    raise PerflabError(f"{path}: baseline taken on another machine ({'; '.join(diffs)}) "
                                       "and --strict-machine is set")
            self.baselines[p.name] = b

    def after_run(self, profile: Profile, outcome: Outcome, console: Console,
                  store: SessionStore | None = None) -> Outcome:
        """Compare with the baseline, print the verdicts, save or update the baseline; the gated outcome.

        With ``store``, the session's stored result and exit code are updated to include the gate."""
        result = outcome.result
        comparison: Comparison | None = None
        base = self.baselines.get(profile.name)
        finished = result.status in (Status.PASSED, Status.FAILED)
        if base is not None and finished:
            result, comparison = judge(profile, result, base, f"session {outcome.session_id}", self.here)
            if comparison.rows:
                console.print(rich_table(compare_report.table(comparison)))
            for n in comparison.notes():
                style = ("bold red" if n.startswith("WARN") else "red" if "failed" in n
                         else "yellow" if n.startswith(("unstable", "not")) else "green")
                console.print(f"[{style}]{escape(n)}[/]", markup=True, highlight=False)
            code = outcome.exit_code
            if comparison.failed and code == ExitCode.OK:
                code = ExitCode.FAILED
            outcome = replace(outcome, result=result, exit_code=code)
            if store is not None:
                secrets = tuple(v for v in (os.environ.get(n) for n in profile.secrets) if v)
                store.finish_session(outcome.session_id, result, int(code), outcome.duration, secrets)
        failed_save = self._maybe_save(profile, outcome, console, comparison)
        if failed_save is not None:  # the run passed but the baseline it should become was not written
            outcome = replace(outcome, result=replace(outcome.result, status=Status.ERROR, message=failed_save),
                              exit_code=ExitCode.RUNNER_ERROR)
            if store is not None:
                store.mark_error(outcome.session_id, failed_save, int(ExitCode.RUNNER_ERROR), outcome.duration)
        self.reports.append(ProfileReport(profile.name, outcome.session_id, outcome.result, int(outcome.exit_code),
                                          outcome.duration, comparison))
        return outcome

    def _maybe_save(self, profile: Profile, outcome: Outcome, console: Console,
                    comparison: Comparison | None) -> str | None:
        """Write the baseline when the options and the verdicts allow; the error line when writing failed."""
        if not (self.opts.save or self.opts.update):
            return None
        path = baselines.path_for(profile.name, self.folder)
        if self.opts.update and comparison is not None and comparison.by_verdict(Verdict.UNSTABLE):
            # an inconclusive comparison could hide a regression: it must not become the reference
            console.print(f"[yellow]baseline not updated: {len(comparison.by_verdict(Verdict.UNSTABLE))} "
                          f"comparison(s) unstable; {path} kept as it was[/]")
            return None
        if outcome.exit_code != ExitCode.OK or outcome.result.status != Status.PASSED:
            why = escape(outcome.result.message or outcome.result.status.value)
            console.print(f"[yellow]baseline not written: the run did not pass every gate ({why}); "
                          f"{path} kept as it was[/]")
            return None
        b = baselines.from_result(profile.name, profile.test.type, outcome.result, machine=self.here,
                                  git=self.git, session=outcome.session_id)
        try:
            baselines.write(b, path)
        except (baselines.BaselineError, OSError) as e:  # e.g. the disk filled during the run
            line = f"baseline not written: {e}"
            console.print(f"[red]{escape(line)}[/]")
            return line
        console.print(f"baseline written: {path}")
        return None

    def finish(self, console: Console) -> None:
        """Write --junit and --markdown files, and append to $GITHUB_STEP_SUMMARY when it is set."""
        from perflab.report import junit, markdown

        if self.opts.junit:
            junit.write(self.opts.junit, self.reports)
        if self.opts.markdown:
            markdown.write(self.opts.markdown, self.reports)
        target = markdown.append_step_summary(self.reports)
        if target:
            console.print(f"[dim]summary appended to {target}[/]")
