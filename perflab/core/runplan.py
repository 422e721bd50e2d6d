"""What a run will face after it ends, told to its runner before it starts: the baseline it will be judged
against, and whether it will become the baseline.

A timed benchmark needs both to choose its number of processes (runners/benchmark/adaptive.py): it adds
processes while its comparison with the baseline is still inconclusive, and runs more of them when it will be
saved as the baseline. The application layer decides both (lab.baselines: the policy and the baseline files), and
the engine hands a runner only the profile and its run context, so the decision travels here.

Invariants: ``offer`` is called by ``lab.baselines.Baselines.baseline_for`` for every run, right before it starts
(``lab.session.run_session``), so an offer always belongs to the run about to start; a runner ``take``s it once
(it is removed), so no later run sees a stale one; a runner started without an offer (called directly, in a test)
gets None and behaves as with no baseline and no save. Offers are keyed by profile name, the key of baselines.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RunPlan:
    """``reference``: the baseline's raw samples (metric key -> per-process samples), None without a baseline;
    ``summary_only``: the baseline holds one median per process (imported from pytest-benchmark); ``saving``: the
    run will be written as the baseline when it passes (--save-baseline or --update-baseline)."""

    reference: Mapping[str, Sequence[Sequence[float]]] | None
    saving: bool = False
    summary_only: bool = False


_lock = threading.Lock()
_offers: dict[str, RunPlan] = {}


def offer(profile: str, plan: RunPlan) -> None:
    """The plan of the next run of ``profile`` (replacing any earlier offer not taken)."""
    with _lock:
        _offers[profile] = plan


def take(profile: str) -> RunPlan | None:
    """The plan offered for this run of ``profile``, removed; None when none was offered."""
    with _lock:
        return _offers.pop(profile, None)
