"""The regression gate for counts (unit "count": instructions counted under valgrind), and where the extra work is.

A count such as a benchmark's instruction count is deterministic: the same code on the same inputs executes the
same instructions, whatever the machine's load. So no significance test is needed, and none would help (two
processes give two values each side). The rule instead:

- unstable: a side has fewer than ``min_processes`` processes, a zero baseline, or its processes disagree by
  more than a quarter of the tolerance ((max - min) / min) and by more than ``MIN_COUNT_CHANGE``. Then something in the measured code is not
  deterministic (threads, subprocesses, time- or address-dependent work) and a verdict would be a guess;
- slower: the candidate's mean count exceeds the baseline's by more than the tolerance (and more than
  ``MIN_COUNT_CHANGE`` instructions);
- faster: it is lower by more than the tolerance (and that many instructions);
- unchanged: otherwise.

The quarter keeps the two errors apart: a disagreement that passes (below tolerance/4) cannot on its own move a
mean across the tolerance, so a "slower" verdict always means the work grew.
``low``..``high`` is the range of candidate/baseline over every pair of processes (no interval is estimated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from perflab.core.model import Level, Note
from perflab.core.stats import GateSettings, SampleComparison, Verdict

COUNT_UNIT = "count"
# The default minimum effect for counts. A count is deterministic, but it is not the work: 1 % more iterations of a
# json round trip rose its count by 0.9 % (calls do not all cost the same), so a 1 % tolerance would let a +1 %
# regression through; at 0.5 % it is caught. Its quarter (0.125 %, the "unstable" line) is far above what the two
# processes of a run differ by (equal counts for every benchmark of the sort profile, whose counting_sort grows
# large lists; runners/benchmark/instructions.py says what is fixed to get there).
TOLERANCE = 0.005
# The measuring harness's own work around one call varies by a few hundred instructions from run to run
# (allocator state; measured: a 29,000-instruction benchmark moved by 361). Differences smaller than this are
# never a change nor a disagreement, whatever their ratio, so tiny benchmarks cannot fail the gate on noise.
MIN_COUNT_CHANGE = 1000.0


def is_count(unit: str) -> bool:
    """Whether a metric of ``unit`` is judged by :func:`compare_counts` rather than by the significance test."""
    return unit == COUNT_UNIT


def process_values(per_process: Sequence[Sequence[float]]) -> list[float]:
    """One value per process: its only sample, or the median of several."""
    out = []
    for proc in per_process:
        vals = sorted(float(v) for v in proc)
        if vals:
            n = len(vals)
            out.append(vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2)
    return out


def spread(values: Sequence[float]) -> float:
    """(max - min) / min of the per-process values: 0 when they all agree; infinite for a zero minimum."""
    if len(values) < 2:
        return 0.0
    lo, hi = min(values), max(values)
    if lo <= 0:
        return 0.0 if hi == lo else math.inf
    return (hi - lo) / lo


def _unstable_reason(values: Sequence[float], side: str, s: GateSettings) -> str:
    if not values:
        return f"{side} has no counts"
    if len(values) < s.min_processes:
        return f"{side} has counts from {len(values)} process(es) (need {s.min_processes})"
    d = spread(values)
    limit = s.tolerance / 4
    if d > limit and max(values) - min(values) > MIN_COUNT_CHANGE:
        return (f"{side} processes disagree by {d * 100:.3g} % (more than a quarter of the "
                f"{s.tolerance * 100:g} % tolerance): the measured code is not deterministic (threads, "
                "subprocesses, time- or address-dependent work?)")
    return ""


def compare_counts(base: Sequence[Sequence[float]], cand: Sequence[Sequence[float]],
                   settings: GateSettings | None = None) -> SampleComparison:
    """Judge counts per process (lower is better), deterministically: see the module docstring."""
    s = settings or GateSettings()
    b, c = process_values(base), process_values(cand)
    b_mean = sum(b) / len(b) if b else math.nan
    c_mean = sum(c) / len(c) if c else math.nan
    ratio = c_mean / b_mean if b and b_mean > 0 else math.nan
    b_reason, c_reason = _unstable_reason(b, "baseline", s), _unstable_reason(c, "candidate", s)
    reason = b_reason or c_reason
    if not reason and not math.isfinite(ratio):
        b_reason = reason = "baseline count is zero"
    if reason:
        return SampleComparison(Verdict.UNSTABLE, ratio, math.nan, math.nan, None, b_mean, c_mean, reason,
                                unusable="baseline" if b_reason else "candidate")
    low, high = min(c) / max(b), max(c) / min(b)
    big = abs(c_mean - b_mean) > MIN_COUNT_CHANGE
    if ratio > 1 + s.tolerance and big:
        verdict, why = Verdict.SLOWER, ""
    elif ratio < 1 - s.tolerance and big:
        verdict, why = Verdict.FASTER, ""
    elif big or c_mean == b_mean:
        verdict, why = Verdict.UNCHANGED, "difference within the tolerance (counts are deterministic)"
    else:
        verdict, why = Verdict.UNCHANGED, f"difference below {MIN_COUNT_CHANGE:,.0f} instructions (harness noise)"
    return SampleComparison(verdict, ratio, low, high, None, b_mean, c_mean, why)


def where_notes(subjects: Sequence[str], data: Mapping[str, Any], top: int = 5) -> list[Note]:
    """For each benchmark in ``subjects`` (those judged slower), a note naming its top functions by self
    instructions from the run's ``data["instructions"]`` (runners/benchmark/instructions.py), so a regression
    points at where the work is."""
    info = data.get("instructions") if isinstance(data, Mapping) else None
    benches = {b.get("name"): b for b in (info or {}).get("benchmarks", []) if isinstance(b, Mapping)}
    out = []
    for name in subjects:
        b = benches.get(name)
        if not b or not b.get("top"):
            continue
        total = float(b.get("total") or 0) or 1.0
        parts = [f"{fn} {n / total * 100:.1f} %" for fn, n in list(b["top"])[:top]]
        out.append(Note(f"top functions of {name} (self instructions): " + ", ".join(parts), Level.INFO,
                        "baseline.where"))
    return out
