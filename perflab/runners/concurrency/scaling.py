"""Speedup and efficiency against a repeated, interleaved base level, and why an efficiency can pass 100 %.

Efficiency at level L is throughput(L) / (L / base x throughput(base)). In a closed loop (each worker calls
again as soon as a call returns) it equals the base level's mean per-call time over level L's: it passes 100 %
only when calls get cheaper with more workers. Two things do that:

* the base rate moved between trials (other processes on the machine, CPU clock, a cold first trial): not the
  code's doing. The base level is therefore measured before the first other level, between every two other
  levels and after the last (:func:`schedule`: 1, 2, 1, 4, 1, 8, 1), each repeat a full trial; speedup and
  efficiency use the median of the repeats, and the repeats' range (slowest to fastest) gives each level's
  efficiency an interval. An efficiency above 100 % whose interval reaches 100 % is within the base level's
  own drift during the run, and :func:`combine` says so in a note.
* calls really are cheaper with more workers (superlinear): a cache the workers share and warm for each other,
  batching (one worker's flush releases the others), wake-ups between workers, a CPU kept out of idle states.
  When even the fastest base repeat gives more than 100 %, the note says it is superlinear, with the per-call
  times that show it.

No efficiency above 100 % is reported without one of these two notes.
"""

from __future__ import annotations

import statistics
from typing import Any

from perflab.core import units
from perflab.core.model import Level, Note


def schedule(levels: list[int]) -> list[int]:
    """The run order of one worker kind: the lowest level before, between and after the others."""
    base, *others = sorted(set(levels))
    order = [base]
    for level in others:
        order += [level, base]
    return order


def combine(kind: str, trials: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Note]]:
    """One trial per level (in level order) from one worker kind's trials in run order, with ``speedup``,
    ``efficiency`` and ``efficiency_range`` (ratios) set, and the notes explaining any efficiency above 1.

    The base level's repeats become one trial: throughput the median of the repeats (calls/s), calls and errors
    summed, percentiles from the repeat nearest the median, a check failure if any repeat failed, and
    ``repeats`` listing each repeat's throughput (calls/s) and mean call time (s).
    """
    by_level: dict[int, list[dict[str, Any]]] = {}
    for tr in trials:
        by_level.setdefault(int(tr["level"]), []).append(tr)
    levels = sorted(by_level)
    base_level = levels[0]
    reps = by_level[base_level]
    rates = [float(r["throughput"]) for r in reps]
    median = statistics.median(rates)
    nearest = min(reps, key=lambda r: abs(float(r["throughput"]) - median))
    base = {**nearest, "throughput": median, "calls": sum(int(r["calls"]) for r in reps),
            "errors": sum(int(r.get("errors") or 0) for r in reps),
            "problem": next((r["problem"] for r in reps if r.get("problem")), None),
            "first_error": next((r["first_error"] for r in reps if r.get("first_error")), None),
            "repeats": [{"throughput": float(r["throughput"]), "mean": r.get("mean")} for r in reps]}
    out = [base] + [by_level[lv][-1] for lv in levels[1:]]
    notes: list[Note] = []
    per_worker = median / base_level if base_level else 0.0
    slow, fast = min(rates) / base_level, max(rates) / base_level
    for tr in out:
        level = int(tr["level"])
        thr = float(tr["throughput"])
        tr["speedup"] = thr / median if median else 0.0
        tr["efficiency"] = thr / (per_worker * level) if per_worker else 0.0
        tr["efficiency_range"] = (thr / (fast * level), thr / (slow * level)) if slow > 0 else (0.0, 0.0)
        if tr is base or tr["efficiency"] <= 1.0:
            continue
        lo, hi = tr["efficiency_range"]
        where = f"{kind} at level {level}: efficiency {units.percent(tr['efficiency'])}"
        spread = (f"{units.percent(lo)}-{units.percent(hi)} against the slowest and fastest of the {len(rates)} "
                  f"runs at level {base_level}")
        if lo <= 1.0:
            notes.append(Note(f"{where} ({spread}) is within the drift of the level-{base_level} rate during the "
                              f"run (other load on the machine, CPU clock, warm-up): read it as about linear "
                              "scaling, not better.", Level.INFO, "concurrency.efficiency"))
        else:
            means = [float(r["mean"]) for r in reps if r.get("mean")]
            cost = (f": a call took {units.duration(float(tr['mean']))} on average against "
                    f"{units.duration(statistics.median(means))} at level {base_level}"
                    if tr.get("mean") and means else "")
            notes.append(Note(f"{where} ({spread}) is superlinear{cost}. Calls got cheaper with more workers "
                              "(a cache the workers warm for each other, batching, wake-ups between workers, or "
                              "a CPU kept out of idle states), which more parallelism alone cannot give.",
                              Level.INFO, "concurrency.efficiency"))
    return out, notes
