"""The baseline policy: which baseline a run is judged against, and when a run becomes the baseline.

Every front end goes through here: ``perflab --headless`` (with its ``--save-baseline``, ``--update-baseline``,
``--no-baseline``, ``--baseline-dir`` and ``--strict-machine`` options), the app (judging against the
profile's baseline, and its "save as baseline" key) and ``perflab baseline save SESSION``. ``write`` is the one
function that writes a baseline file.

Policy (docs/baselines.md):

* A baseline ``<baseline-dir>/<profile>.json`` that exists is compared with automatically; ``no_baseline`` skips
  it. Every baseline is read by ``Baselines.prepare`` *before* any profile runs, so a corrupt, truncated, newer or
  foreign file stops the run at once (exit 2) and is never touched.
* With ``save`` or ``update`` the baseline folder must be writable, checked before any profile runs (exit 2): a
  run whose result could not be kept is not started.
* ``save`` writes the run as the new baseline (no comparison) when the run passed its thresholds.
* ``update`` compares first and replaces the baseline only when the run passed every gate (thresholds, no
  "slower" and no "unstable" verdict); with no baseline yet it creates one. A failed run never becomes the
  reference, so a regression cannot quietly become the new normal.
* A baseline from another machine (fingerprint differs) is reported loudly; ``strict_machine`` makes it an error
  (exit 2) before anything runs.

All of it happens before the run's ``Finished`` event (``lab.session.run_session``), so the printed verdict, the
exit code, the stored session and its replay agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab.core import machine, runplan
from perflab.core.compare import Comparison
from perflab.core.judge import settings_for
from perflab.core.model import Level, PerflabError, Profile, Result, Status
from perflab.core.stats import Verdict
from perflab.store import baselines as files
from perflab.store.baselines import Baseline


@dataclass(frozen=True)
class BaselinePolicy:
    """What to do with baselines around a run (the headless options; the app uses the defaults)."""

    baseline_dir: str | None = None
    save: bool = False
    update: bool = False
    no_baseline: bool = False
    strict_machine: bool = False

    @classmethod
    def from_extras(cls, extras: Mapping[str, Any]) -> BaselinePolicy:
        return cls(**{k: v for k, v in extras.items() if k in cls.__dataclass_fields__})

    @property
    def writes(self) -> bool:
        return self.save or self.update


@dataclass(frozen=True)
class Decision:
    """What the policy did after a judged run: a line for people, its level, and whether writing failed."""

    message: str
    level: Level
    failed: bool = False


@dataclass
class Baselines:
    """The baselines of a set of profiles, read and checked before any of them runs (``prepare``)."""

    policy: BaselinePolicy
    folder: Path
    here: dict[str, Any]  # this machine (core.machine.fingerprint)
    by_profile: dict[str, Baseline | None] = field(default_factory=dict)

    @classmethod
    def prepare(cls, policy: BaselinePolicy, profiles: Sequence[Profile]) -> Baselines:
        """Read every profile's baseline and check the folder when the policy writes; PerflabError (exit 2) on a
        contradictory policy, a bad baseline file, an unwritable folder or, with ``strict_machine``, a baseline
        from another machine."""
        if policy.save and policy.update:
            raise PerflabError("--save-baseline and --update-baseline exclude each other")
        if policy.no_baseline and policy.writes:
            raise PerflabError("--no-baseline cannot be combined with --save-baseline or --update-baseline")
        out = cls(policy, files.default_dir(policy.baseline_dir), machine.fingerprint())
        if policy.writes:  # a run whose baseline cannot be written must not run at all
            files.check_folder_writable(out.folder)
        for p in profiles:
            path = files.path_for(p.name, out.folder)
            if policy.writes:
                files.check_writable(path, p.name)
            if policy.no_baseline or policy.save or not path.exists():
                out.by_profile[p.name] = None
                continue
            b = files.read(path, profile=p.name)
            if policy.strict_machine:
                diffs = machine.differences(dict(b.machine), out.here)
                if diffs:
                    raise PerflabError(f"{path}: baseline taken on another machine ({'; '.join(diffs)}) "
                                       "and --strict-machine is set")
            out.by_profile[p.name] = b
        return out

    def baseline_for(self, profile: Profile) -> Baseline | None:
        """The baseline ``profile``'s run is judged against (None without one)."""
        return self.by_profile.get(profile.name)

    def run_plan(self, profile: Profile) -> runplan.RunPlan:
        """What ``profile``'s runner is told before it starts: its baseline's samples and whether the run will
        be saved, so a timed benchmark can choose its number of processes."""
        b = self.by_profile.get(profile.name)
        return runplan.RunPlan(b.raw if b is not None else None, self.policy.writes,
                               b.summary_only if b is not None else False)

    def after(self, profile: Profile, result: Result, comparison: Comparison | None, session_id: str,
              git: Mapping[str, Any] | None = None) -> Decision | None:
        """Save or update the baseline from a judged ``result`` when the policy says so; None when the policy
        does not write. Called before the run's Finished event."""
        if not self.policy.writes:
            return None
        path = files.path_for(profile.name, self.folder)
        unstable = comparison.by_verdict(Verdict.UNSTABLE) if comparison is not None else []
        if self.policy.update and unstable:
            # an inconclusive comparison could hide a regression: it must not become the reference
            return Decision(f"baseline not updated: {len(unstable)} comparison(s) unstable; {path} kept as it was",
                            Level.WARNING)
        if result.status != Status.PASSED:
            why = result.message or result.status.value
            return Decision(f"baseline not written: the run did not pass every gate ({why}); {path} kept as it was",
                            Level.WARNING)
        try:
            write(profile.name, profile.test.type, result, session_id, self.folder, machine=self.here,
                  git=machine.git_info() if git is None else git)
        except (files.BaselineError, OSError) as e:  # e.g. the disk filled during the run
            return Decision(f"baseline not written: {e}", Level.ERROR, failed=True)
        noisy = noisy_benchmarks(result, settings_for(profile).max_cv)
        if noisy:  # written as asked, but every later comparison with it would be unstable: say so now
            return Decision(f"baseline written: {path}; but its process medians vary more than [gate] max_cv for "
                            f"{', '.join(noisy)}: comparisons with it will be unstable; save it again on a "
                            "quieter machine or with a longer test.max_time", Level.WARNING)
        return Decision(f"baseline written: {path}", Level.INFO)


def noisy_benchmarks(result: Result, max_cv: float) -> list[str]:
    """Timed benchmarks of ``result`` whose process medians vary (CV) by more than ``max_cv`` in seconds and, when
    calibrated, in reference units too: the gate would call every comparison with them unstable."""
    from perflab.core.stats import cv, process_medians

    spread: dict[str, float] = {}
    for key, per_process in result.raw.items():
        name, _, rest = key.partition("{")
        if name in ("median", "relative") and len(per_process) > 1:
            value = cv(process_medians(per_process))
            spread[rest] = min(value, spread.get(rest, value))
    return [rest.rstrip("}").partition("=")[2] or rest for rest, v in sorted(spread.items()) if v > max_cv]


def write(profile: str, test_type: str, result: Result, session_id: str, folder: str | Path | None, *,
          machine: Mapping[str, Any], git: Mapping[str, Any] | None) -> Path:
    """Write ``result`` as the baseline of ``profile`` in ``folder``; the file written. It refuses (BaselineError)
    to replace a file that is not a readable baseline of ``profile``, and writes atomically. The one place a baseline is written: the run policy above, the app and ``perflab baseline save``."""
    path = files.path_for(profile, folder)  # folder None: default_dir(), i.e. $PERFLAB_BASELINES or baselines/
    b = files.from_result(profile, test_type, result, machine=machine, git=git, session=session_id)
    return files.write(b, path)
