"""What a run will face after it ends, told to its runner before it starts: the baseline it will be judged
against, and whether it will become the baseline.

A timed benchmark needs both to choose its number of processes (runners/benchmark/adaptive.py): it adds
processes while its comparison with the baseline is still inconclusive, and runs more of them when it will be
saved as the baseline. The application layer decides both (lab.baselines: the policy and the baseline files)
and hands the plan to the run's context (runners.framework.base.RunContext.plan) when the run starts; a runner
started without one (called directly, in a test) gets None and behaves as with no baseline and no save.
"""

from __future__ import annotations

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
