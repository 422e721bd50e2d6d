"""A finished result judged against its baseline: the one regression-gate rule the app and headless share.

``judge`` runs ``core.compare`` on the raw samples (the profile's ``tolerance`` and ``[gate]`` table as
settings) and returns the gated result: a "slower" verdict fails it with the comparison's summary as message,
the comparison's notes join the result's (among them a warning when the baseline is from another machine), and the JSON-able
comparison goes to ``result.data["comparison"]``. Front ends decide how to show it (the app adds the table to
the result; headless prints it) and what to do next (save or update the baseline: perflab/lab/gate.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from perflab.core import counts
from perflab.core.compare import Comparison, compare
from perflab.core.model import Metric, Profile, Result, Status
from perflab.core.stats import GateSettings, Verdict


class BaselineLike(Protocol):
    """What judging needs of a baseline (store.baselines.Baseline has it); core does not import the store."""

    @property
    def raw(self) -> Mapping[str, Sequence[Sequence[float]]]: ...
    @property
    def metrics(self) -> Sequence[Metric]: ...
    @property
    def machine(self) -> Mapping[str, Any]: ...
    @property
    def summary_only(self) -> bool: ...
    def label(self) -> str: ...


def settings_for(profile: Profile) -> GateSettings:
    """The profile's ``tolerance`` and ``[gate]`` table as GateSettings."""
    gate = dict(profile.extra.get("gate") or {})
    return GateSettings(tolerance=profile.tolerance, **{k: v for k, v in gate.items() if v is not None})


def judge(profile: Profile, result: Result, base: BaselineLike, candidate_label: str,
          here: Mapping[str, Any]) -> tuple[Result, Comparison]:
    """``result`` compared with ``base`` on this machine (``here``: core.machine.fingerprint())."""
    c = compare(base.raw, result.raw, base_metrics=base.metrics, cand_metrics=result.metrics,
                settings=settings_for(profile), base_machine=base.machine, cand_machine=here,
                baseline_label=base.label(), candidate_label=candidate_label,
                baseline_summary_only=base.summary_only)
    status, message = result.status, result.message
    if c.slower:
        status, message = Status.FAILED, "regression: " + c.summary()
    elif c.failed:  # inconclusive, and the profile's [gate] inconclusive = "fail"
        status, message = Status.FAILED, 'regression gate inconclusive ([gate] inconclusive = "fail"): ' + c.summary()
    where = counts.where_notes([r.subject for r in c.by_verdict(Verdict.SLOWER) if counts.is_count(r.unit)],
                               result.data)
    gated = replace(result, status=status, message=message, notes=(*result.notes, *c.notes(), *where),
                    data={**result.data, "comparison": comparison_dict(c)})
    return gated, c


def comparison_dict(c: Comparison) -> dict[str, Any]:
    """JSON-able form for --json and the stored result."""
    return {
        "baseline": c.baseline,
        "candidate": c.candidate,
        "failed": c.failed,
        "inconclusive": c.inconclusive,
        "inconclusive_policy": c.settings.inconclusive,
        "tolerance": c.settings.tolerance,
        "machine_differences": list(c.machine_differences),
        "rows": [{"key": r.key, "verdict": r.verdict.value, "ratio": _num(r.result.ratio),
                  "ci": [_num(r.result.low), _num(r.result.high)], "p_value": r.result.p_value,
                  "baseline": _num(r.result.baseline), "candidate": _num(r.result.candidate),
                  "reason": r.result.reason, "inconclusive": r.result.inconclusive,
                  "plain_ratio": _num(r.plain_ratio)} for r in c.rows],
    }


def _num(x: float) -> float | None:
    """NaN and infinity are not JSON: null instead (strict parsers such as jq refuse NaN)."""
    return x if math.isfinite(x) else None
