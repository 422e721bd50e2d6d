"""Candidate vs baseline: a verdict per metric (faster, slower, unchanged, unstable) and the gate's outcome.

Only metrics with raw samples on both sides are judged (``Result.raw`` keys); each judgement is
``stats.compare_samples`` on the raw samples per process, except counts (unit "count", e.g. instructions),
which are deterministic and judged by ``counts.compare_counts``. Metrics measured under memray or tracemalloc
(``comparable=False``) are listed but never judged. A baseline taken on another machine (different
fingerprint) is reported loudly; the caller decides whether that is an error (``--strict-machine``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from perflab.core import counts, stats
from perflab.core import machine as machine_mod
from perflab.core.model import Level, Metric, Note
from perflab.core.stats import GateSettings, SampleComparison, Verdict

HIGHER_IS_BETTER = frozenset({"ops", "rps", "throughput", "efficiency"})

Raw = Mapping[str, Sequence[Sequence[float]]]


@dataclass(frozen=True)
class MetricComparison:
    key: str  # Metric.key(), e.g. median{benchmark=counting_sort[n=100]}
    name: str
    labels: tuple[tuple[str, str], ...]
    unit: str
    result: SampleComparison

    @property
    def verdict(self) -> Verdict:
        return self.result.verdict

    @property
    def subject(self) -> str:
        """The human name of what was measured: the benchmark (or endpoint) label, else the key."""
        d = dict(self.labels)
        return d.get("benchmark") or d.get("endpoint") or d.get("name") or self.key


@dataclass(frozen=True)
class Comparison:
    baseline: str  # what the candidate was compared with, for people
    candidate: str
    rows: tuple[MetricComparison, ...]
    machine_differences: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # in the baseline, not in the candidate
    new: tuple[str, ...] = ()  # in the candidate, not in the baseline
    settings: GateSettings = field(default_factory=GateSettings)

    def by_verdict(self, v: Verdict) -> list[MetricComparison]:
        return [r for r in self.rows if r.verdict == v]

    @property
    def failed(self) -> bool:
        """The gate fails when at least one metric is slower (unstable ones never fail or pass it)."""
        return bool(self.by_verdict(Verdict.SLOWER))

    def summary(self) -> str:
        counts = {v: len(self.by_verdict(v)) for v in Verdict}
        parts = [f"{n} {v.value}" for v, n in counts.items() if n]
        text = f"vs {self.baseline}: " + (", ".join(parts) if parts else "nothing to compare")
        slower = self.by_verdict(Verdict.SLOWER)
        if slower:
            text += "; slower: " + ", ".join(f"{r.subject} ({_pct(r.result.ratio)})" for r in slower)
        return text

    def notes(self) -> list[Note]:
        """The gate's outcome first (kind ``baseline.slower`` when it failed, ``baseline.passed``, or
        ``baseline.inconclusive`` when nothing could be judged), then a warning per unstable metric
        (``baseline.unstable``), for a baseline from another machine (``baseline.machine``) and for metrics the
        run did not measure (``baseline.missing``)."""
        judged = [r for r in self.rows if r.verdict != Verdict.UNSTABLE]
        if self.failed:
            out = [Note("regression gate failed: " + self.summary(), Level.ERROR, "baseline.slower")]
        elif judged:
            out = [Note("regression gate passed: " + self.summary(), Level.INFO, "baseline.passed")]
        else:
            out = [Note("regression gate inconclusive (nothing judged): " + self.summary(), Level.WARNING,
                        "baseline.inconclusive")]
        for r in self.by_verdict(Verdict.UNSTABLE):
            out.append(Note(f"unstable (not gated): {r.subject}: {r.result.reason}", Level.WARNING,
                            "baseline.unstable"))
        if self.machine_differences:
            out.append(Note("WARNING: the baseline was taken on another machine: "
                            + "; ".join(self.machine_differences), Level.WARNING, "baseline.machine"))
        if self.missing:
            out.append(Note("not measured this time: " + ", ".join(self.missing), Level.WARNING, "baseline.missing"))
        return out


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f} %"


def compare(base_raw: Raw, cand_raw: Raw, *, base_metrics: Sequence[Metric] = (),
            cand_metrics: Sequence[Metric] = (), settings: GateSettings | None = None,
            base_machine: Mapping[str, Any] | None = None, cand_machine: Mapping[str, Any] | None = None,
            baseline_label: str = "baseline", candidate_label: str = "this run",
            baseline_summary_only: bool = False) -> Comparison:
    """Compare every metric with raw samples on both sides. ``settings.tolerance`` is the minimum effect."""
    s = settings or GateSettings()
    info = {m.key(): m for m in (*base_metrics, *cand_metrics)}
    not_comparable = {m.key() for m in (*base_metrics, *cand_metrics) if not m.comparable}
    rows: list[MetricComparison] = []
    common = set(base_raw) & set(cand_raw)
    # a benchmark measured against the reference loop on both sides (runners/benchmark/runner.py, calibrate) is
    # judged on ``relative`` only: its absolute median carries the machine's speed drift
    shadowed = {"median" + k[len("relative"):] for k in common if k.startswith("relative{")}
    for key in sorted(common - shadowed):
        m = info.get(key)
        name = m.name if m else key.partition("{")[0]
        lbls = m.labels if m else _labels_of(key)
        unit = m.unit if m else "s"
        if key in not_comparable:
            b, c = stats.center(base_raw[key]), stats.center(cand_raw[key])
            res = SampleComparison(Verdict.UNSTABLE, c / b if b else float("nan"), float("nan"), float("nan"),
                                   None, b, c, "measured under a memory profiler: not comparable, never gated")
        elif counts.is_count(unit):  # a deterministic count (instructions): no significance test needed
            res = counts.compare_counts(base_raw[key], cand_raw[key], s)
        else:
            side = s
            if baseline_summary_only:  # one median per process: the rounds rule cannot apply to the baseline
                side = GateSettings(**{**s.__dict__, "min_rounds": 1})
            res = stats.compare_samples(base_raw[key], cand_raw[key], side,
                                        higher_is_better=name in HIGHER_IS_BETTER)
            if baseline_summary_only and res.verdict != Verdict.UNSTABLE:
                # the candidate's rounds were checked; recheck them with the strict rule
                why = stats.unstable_reason(cand_raw[key], "candidate", s)
                if why:
                    res = SampleComparison(Verdict.UNSTABLE, res.ratio, res.low, res.high, res.p_value,
                                           res.baseline, res.candidate, why)
        rows.append(MetricComparison(key, name, lbls, unit, res))
    diffs: tuple[str, ...] = ()
    if base_machine is not None and cand_machine is not None:
        diffs = tuple(machine_mod.differences(dict(base_machine), dict(cand_machine)))
    return Comparison(baseline_label, candidate_label, tuple(rows), diffs,
                      tuple(sorted(set(base_raw) - set(cand_raw))), tuple(sorted(set(cand_raw) - set(base_raw))), s)


def _labels_of(key: str) -> tuple[tuple[str, str], ...]:
    """Labels parsed back from a metric key ``name{a=1,b=2}`` (values may contain brackets, not commas)."""
    if "{" not in key or not key.endswith("}"):
        return ()
    inner = key[key.index("{") + 1:-1]
    out = []
    for part in inner.split(","):
        k, _, v = part.partition("=")
        out.append((k, v))
    return tuple(out)
