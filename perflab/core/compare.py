"""Candidate vs baseline: a verdict per metric (faster, slower, unchanged, unstable) and the gate's outcome.

Only metrics with raw samples on both sides are judged (``Result.raw`` keys); each judgement is
``stats.compare_samples`` on the raw samples per process, except counts (unit "count", e.g. instructions),
which are deterministic and judged by ``counts.compare_counts``. Metrics measured under memray or tracemalloc
(``comparable=False``) are listed but never judged. A baseline taken on another machine (different
fingerprint) is reported loudly; the caller decides whether that is an error (``--strict-machine``).

A benchmark timed with the reference loop (``calibrate``) has two measures, ``median`` (seconds) and
``relative`` (round / reference). One of them is judged, decided per benchmark from the data
(``stats.calibration_narrows``): ``relative`` only where it measurably narrows the spread, else seconds, the
unit of the results table. A row judged in reference units also carries the change in seconds.

The gate is **inconclusive** when nothing is slower but a gated metric could not be judged (unstable: a side
unusable, or an interval too wide to decide at the tolerance). It is never silent: its note says why and what
to do, and ``[gate] inconclusive = "fail"`` fails the run on it (``GateSettings.inconclusive``).
"""

from __future__ import annotations

import math
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
    # judged relative to the reference loop: the change of the same benchmark's median in seconds
    plain_ratio: float = math.nan
    gated: bool = True  # False: listed but never judged (measured under a memory profiler)

    @property
    def calibrated(self) -> bool:
        return self.name == "relative"

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
    def slower(self) -> bool:
        """At least one metric is slower."""
        return bool(self.by_verdict(Verdict.SLOWER))

    @property
    def undecided(self) -> list[MetricComparison]:
        """Gated metrics that could not be judged (unstable), a regression could hide in them."""
        return [r for r in self.by_verdict(Verdict.UNSTABLE) if r.gated]

    @property
    def inconclusive(self) -> bool:
        """Nothing is slower, but some gated metric could not be judged."""
        return not self.slower and bool(self.undecided)

    @property
    def failed(self) -> bool:
        """The gate fails when at least one metric is slower, or when it is inconclusive and the settings say
        ``inconclusive = "fail"``; by default unstable metrics never fail or pass it."""
        return self.slower or (self.inconclusive and self.settings.inconclusive == "fail")

    def summary(self) -> str:
        counts = {v.value: len(self.by_verdict(v)) for v in Verdict}
        wide = sum(1 for r in self.by_verdict(Verdict.UNSTABLE) if r.result.inconclusive)
        counts = {**counts, "unstable": counts["unstable"] - wide, "inconclusive": wide}
        parts = [f"{n} {v}" for v, n in counts.items() if n]
        text = f"vs {self.baseline}: " + (", ".join(parts) if parts else "nothing to compare")
        slower = self.by_verdict(Verdict.SLOWER)
        if slower:
            text += "; slower: " + ", ".join(f"{r.subject} ({change_text(r)})" for r in slower)
        return text

    def notes(self) -> list[Note]:
        """The gate's outcome first (kind ``baseline.slower`` when it failed on a slower metric,
        ``baseline.passed``, or ``baseline.inconclusive``: why, what to do, and an error when the settings fail
        it), then a warning per unstable metric (``baseline.unstable``), a note where a calibrated verdict and the
        seconds disagree in direction (``baseline.calibration``), a warning for a baseline from another machine
        (``baseline.machine``) and for metrics the run did not measure (``baseline.missing``)."""
        if self.slower:
            out = [Note("regression gate failed: " + self.summary(), Level.ERROR, "baseline.slower")]
        elif self.inconclusive:
            out = [self._inconclusive_note()]
        elif any(r.gated and r.verdict != Verdict.UNSTABLE for r in self.rows):
            out = [Note("regression gate passed: " + self.summary(), Level.INFO, "baseline.passed")]
        else:
            out = [Note("regression gate inconclusive (nothing judged): " + self.summary(), Level.WARNING,
                        "baseline.inconclusive")]
        for r in self.by_verdict(Verdict.UNSTABLE):
            what = "inconclusive" if r.result.inconclusive else "unstable"
            out.append(Note(f"{what} (not gated): {r.subject}: {r.result.reason}", Level.WARNING,
                            "baseline.unstable"))
        for r in self.rows:
            if r.calibrated and math.isfinite(r.plain_ratio) and (r.result.ratio - 1) * (r.plain_ratio - 1) < 0:
                out.append(Note(f"{r.subject}: judged relative to the reference loop ({_pct(r.result.ratio)}), "
                                f"while its median in seconds changed {_pct(r.plain_ratio)}: the machine's speed "
                                "changed between the runs, which the reference loop cancels", Level.INFO,
                                "baseline.calibration"))
        if self.machine_differences:
            out.append(Note("WARNING: the baseline was taken on another machine: "
                            + "; ".join(self.machine_differences), Level.WARNING, "baseline.machine"))
        if self.missing:
            out.append(Note("not measured this time: " + ", ".join(self.missing), Level.WARNING, "baseline.missing"))
        return out

    def _inconclusive_note(self) -> Note:
        """Why the gate could not decide, and what would let it: the advice depends on what went wrong."""
        undecided = self.undecided
        gated = [r for r in self.rows if r.gated]
        wide = [r for r in undecided if r.result.inconclusive]
        names = ", ".join(r.subject for r in undecided[:3]) + (f" and {len(undecided) - 3} more"
                                                                if len(undecided) > 3 else "")
        why = (f"{len(undecided)} of {len(gated)} comparisons could not be judged ({names}): "
               + ("their intervals reach beyond the tolerance" if len(wide) == len(undecided)
                  else "see the unstable lines below"))
        if all(counts.is_count(r.unit) for r in undecided):
            todo = ("counts that disagree come from code that is not deterministic (threads, subprocesses, "
                    "time- or address-dependent work): measure it without them, or use measure = \"time\"")
        elif any(r.result.unusable == "baseline" for r in undecided):
            todo = ("the baseline cannot support a verdict: save it again, with more processes ([gate] "
                    "baseline_processes), a longer test.max_time or on a quieter machine; or count instructions "
                    "(test.measure = \"instructions\"), which noise does not move")
        else:
            todo = ("to decide, give the gate more data: more processes ([gate] max_processes, default "
                    f"{GateSettings().max_processes}), a longer test.max_time, a baseline saved with more processes "
                    "([gate] baseline_processes); or count instructions (test.measure = \"instructions\"), "
                    "which noise does not move")
        head = "regression gate inconclusive" + ("" if len(undecided) < len(gated) else " (nothing judged)")
        if self.settings.inconclusive == "fail":
            return Note(f"{head}, failed ([gate] inconclusive = \"fail\"): {why}; {todo}", Level.ERROR,
                        "baseline.inconclusive")
        return Note(f"{head}, passed ([gate] inconclusive = \"pass\"): {why}; {todo}; set [gate] inconclusive = "
                    "\"fail\" to fail the run instead", Level.WARNING, "baseline.inconclusive")


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f} %"


def change_text(r: MetricComparison) -> str:
    """A row's judged change, with its unit when that is not the results table's: counts say instructions, a
    calibrated row says reference units and the change in seconds beside it."""
    if counts.is_count(r.unit):
        return f"{_pct(r.result.ratio)} {r.name}"
    if r.calibrated:
        seconds = f"; {_pct(r.plain_ratio)} in seconds" if math.isfinite(r.plain_ratio) else ""
        return f"{_pct(r.result.ratio)} relative to the reference loop{seconds}"
    return _pct(r.result.ratio)


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
    shadowed, plain_of = _calibration_choice(base_raw, cand_raw, common)
    for key in sorted(common - shadowed):
        m = info.get(key)
        name = m.name if m else key.partition("{")[0]
        lbls = m.labels if m else _labels_of(key)
        unit = m.unit if m else "s"
        gated = key not in not_comparable
        if not gated:
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
                                           res.baseline, res.candidate, why, unusable="candidate")
        plain = plain_of.get(key)
        plain_ratio = (stats.center(cand_raw[plain]) / stats.center(base_raw[plain])) if plain else math.nan
        rows.append(MetricComparison(key, name, lbls, unit, res, plain_ratio, gated))
    diffs: tuple[str, ...] = ()
    if base_machine is not None and cand_machine is not None:
        diffs = tuple(machine_mod.differences(dict(base_machine), dict(cand_machine)))
    return Comparison(baseline_label, candidate_label, tuple(rows), diffs,
                      tuple(sorted(set(base_raw) - set(cand_raw))), tuple(sorted(set(cand_raw) - set(base_raw))), s)


def _calibration_choice(base_raw: Raw, cand_raw: Raw, common: set[str]) -> tuple[set[str], dict[str, str]]:
    """Which of a calibrated benchmark's two measures is judged: the keys left out, and for each ``relative`` key
    kept its ``median`` key (whose change in seconds is shown beside the verdict)."""
    shadowed: set[str] = set()
    plain_of: dict[str, str] = {}
    for rel in (k for k in common if k.startswith("relative{")):
        med = "median" + rel[len("relative"):]
        if med not in common:
            continue
        narrows, _ = stats.calibration_narrows((base_raw[med], cand_raw[med]), (base_raw[rel], cand_raw[rel]))
        if narrows:
            shadowed.add(med)
            plain_of[rel] = med
        else:
            shadowed.add(rel)
    return shadowed, plain_of


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
