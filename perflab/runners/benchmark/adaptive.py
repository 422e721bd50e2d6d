"""How many pytest processes a timed benchmark run gets: enough for its comparison with the baseline to decide.

The process is the independent unit of a timing (core.stats), so the width of the comparison's interval is set by
the number of processes on each side and their spread. A fixed count is too many where the code is steady and too
few where it is not (code whose time is spent in C drifts with the machine more than the reference loop cancels).
So, as pyperf's and Google Benchmark's advice on repetitions suggests, processes are added one at a time:

- ``test.processes`` run whatever happens (the first batch);
- with a baseline to compare with, one more process runs while the comparison is inconclusive (no benchmark
  slower, some benchmark not judged: this run unstable, or the interval reaching beyond the tolerance; a
  baseline too noisy to judge against stays so whatever this run adds), up to
  ``[gate] max_processes`` (default 10), and never when the next process would likely overrun the profile's
  ``timeout``;
- a run that will be saved as the baseline (--save-baseline, --update-baseline) runs ``[gate] baseline_processes``
  (default 10): the baseline is the reference of every later comparison, so its error is paid by all of them.

The decision reuses the gate itself (core.compare with the profile's settings), so the runner stops exactly when
the verdict the run will get is decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from perflab.core.compare import compare
from perflab.core.judge import settings_for
from perflab.core.model import Level, Note, Profile, Result
from perflab.core.runplan import RunPlan
from perflab.core.stats import GateSettings

BUDGET_MARGIN = 1.5  # another process starts only if this many times the longest one so far still fits the timeout


@dataclass(frozen=True)
class Schedule:
    """``first`` processes always run; up to ``limit`` while ``undecided``; ``requested``: test.processes."""

    first: int
    limit: int
    plan: RunPlan | None
    settings: GateSettings
    requested: int

    @property
    def saving(self) -> bool:
        return self.plan is not None and self.plan.saving

    def undecided(self, result: Result) -> str:
        """Why the comparison of ``result`` (so far) with the baseline is not decided yet, or "" when it is, or when
        there is nothing to compare with."""
        if self.plan is None or self.plan.reference is None:
            return ""
        c = compare(self.plan.reference, result.raw, cand_metrics=result.metrics, settings=self.settings,
                    baseline_summary_only=self.plan.summary_only)
        # a baseline too noisy to judge against stays so, however many processes this run adds
        fixable = [r for r in c.undecided if r.result.unusable != "baseline"]
        if c.slower or not fixable:
            return ""
        gated = sum(1 for r in c.rows if r.gated)
        return f"{len(fixable)} of {gated} comparisons undecided"


def schedule(profile: Profile, plan: RunPlan | None) -> Schedule:
    """The schedule of a timed run of ``profile`` (``plan``: the run's context's plan, or None)."""
    settings = settings_for(profile)
    requested = int(profile.test.params["processes"])
    if plan is not None and plan.saving:
        first = max(requested, settings.baseline_processes)
        return Schedule(first, first, plan, settings, requested)
    if plan is not None and plan.reference is not None:
        return Schedule(requested, max(requested, settings.max_processes), plan, settings, requested)
    return Schedule(requested, requested, plan, settings, requested)


def fits(timeout: float | None, now: float, durations: list[float]) -> bool:
    """Whether one more process (as long as the longest so far, with a margin) ends before ``timeout`` (s since
    the session started; None: no limit)."""
    return timeout is None or not durations or now + BUDGET_MARGIN * max(durations) < timeout


def note(sched: Schedule, ran: int, stopped: str) -> Note | None:
    """What the process count was and why, when it is not simply ``test.processes``. ``stopped``: "" (the first
    batch, or decided), "decided", "limit" or "timeout"."""
    if sched.saving:
        if ran == sched.requested:
            return None
        return Note(f"{ran} processes: this run is saved as the baseline ([gate] baseline_processes), so every "
                    "later comparison has a reference with less error", Level.INFO, "bench.processes")
    if ran == sched.requested and stopped in ("", "decided"):
        return None
    added = f"{ran - sched.requested} added one at a time" if ran > sched.requested else "none added"
    if stopped == "limit":
        return Note(f"{ran} processes ({added}): the comparison with the baseline was still inconclusive at the "
                    "limit ([gate] max_processes)", Level.WARNING, "bench.processes")
    if stopped == "timeout":
        return Note(f"{ran} processes ({added}): the comparison was still inconclusive, and another process would "
                    "likely have overrun the profile's timeout", Level.WARNING, "bench.processes")
    return Note(f"{ran} processes ({added} until the comparison with the baseline was decided)", Level.INFO,
                "bench.processes")
