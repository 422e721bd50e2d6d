"""Verdict rates of the A/A + injected-slowdown experiment (see aa_experiment.py for how the data is made)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from perflab.core.stats import GateSettings, Verdict, compare_samples

KEY = "median{benchmark=counting_sort[n=10000]}"  # seconds: what pytest-benchmark compares
REL = "relative{benchmark=counting_sort[n=10000]}"  # round / reference loop (calibrate = true): what perflab gates
Arm = dict[str, list[list[float]]]  # "gate" and "abs" -> raw rounds per process
SCALES = (0.02, 0.05, 0.07, 0.10, 0.15, 0.20, 0.30, 0.50)


def load(folder: Path) -> dict[int, dict[str, Arm]]:
    """rep -> arm -> {"gate": what perflab's gate judges (relative when the run has it), "abs": seconds}."""
    reps: dict[int, dict[str, Arm]] = defaultdict(dict)
    for line in (folder / "runs.jsonl").read_text().splitlines():
        rec = json.loads(line)
        reps[rec["rep"]][rec["arm"]] = {"gate": rec["raw"].get(REL) or rec["raw"][KEY], "abs": rec["raw"][KEY]}
    return {r: arms for r, arms in sorted(reps.items()) if {"A", "A2", "B"} <= set(arms)}


def pytest_benchmark_fails(base: list[list[float]], cand: list[list[float]], *, pooled: bool) -> bool:
    """``--benchmark-compare-fail=mean:5%``: fail when the candidate's mean is more than 5 % above the
    baseline's. A pytest-benchmark run is one process: by default compare the first process of each run."""
    if pooled:
        b = float(np.mean([x for p in base for x in p]))
        c = float(np.mean([x for p in cand for x in p]))
    else:
        b, c = float(np.mean(base[0])), float(np.mean(cand[0]))
    return (c / b * 100 - 100) > 5.0


def rates(pairs: list[tuple[Arm, Arm]], processes: int, settings: GateSettings) -> dict[str, Any]:
    counts = {v: 0 for v in Verdict}
    reasons: list[str] = []
    pb_first = pb_pooled = 0
    ratios = []
    for base, cand in pairs:
        b, c = base["gate"][:processes], cand["gate"][:processes]
        res = compare_samples(b, c, settings)
        counts[res.verdict] += 1
        ratios.append(res.ratio)
        if res.verdict == Verdict.UNSTABLE:
            reasons.append(res.reason)
        ab, ac = base["abs"][:processes], cand["abs"][:processes]
        pb_first += pytest_benchmark_fails(ab, ac, pooled=False)
        pb_pooled += pytest_benchmark_fails(ab, ac, pooled=True)
    n = len(pairs)
    return {"n": n, **{v.value: counts[v] / n for v in Verdict}, "pb_fail_first": pb_first / n,
            "pb_fail_pooled": pb_pooled / n, "median_ratio": float(np.median(ratios)), "reasons": reasons[:3]}


def scaled(arm: Arm, s: float) -> Arm:
    return {k: [[x * (1 + s) for x in p] for p in procs] for k, procs in arm.items()}


def analyze(folder: Path, processes: tuple[int, ...] = (3, 5), settings: GateSettings | None = None) -> str:
    s = settings or GateSettings()
    data = load(folder)
    if not data:
        return "no complete repetitions yet"
    calibrated = all(arms["A"]["gate"] is not arms["A"]["abs"] for arms in data.values())
    lines = [f"{len(data)} complete repetitions (A, A', B = +10 % knob) from {folder}; perflab judges "
             + ("relative time (round / reference loop, calibrate = true)" if calibrated else "seconds"),
             f"gate: tolerance {s.tolerance:.0%}, max process CV {s.max_cv:.0%}, {s.confidence:.0%} interval (wider of "
             "two-level bootstrap and t, Welch or pooled) of the ratio of mean process medians", ""]
    header = ("| comparison | processes | perflab slower | perflab unchanged | perflab faster | perflab unstable "
              "| pytest-benchmark mean:5% fail (1st process) | (all processes pooled) | median ratio |")
    lines += [header, "|" + "---|" * 9]
    for k in processes:
        for label, arm in (("A/A (A' vs A)", "A2"), ("+10 % knob (B vs A)", "B")):
            pairs = [(arms["A"], arms[arm]) for arms in data.values()]
            r = rates(pairs, k, s)
            lines.append(f"| {label} | {k} | {r['slower']:.0%} | {r['unchanged']:.0%} | {r['faster']:.0%} | "
                         f"{r['unstable']:.0%} | {r['pb_fail_first']:.0%} | {r['pb_fail_pooled']:.0%} | "
                         f"{r['median_ratio']:.3f} |")
    loose = GateSettings(tolerance=s.tolerance, max_cv=1e9, confidence=s.confidence)
    lines += ["", "the same rule with the noise check switched off (max_cv = infinity; judged however noisy):", "",
              header, "|" + "---|" * 9]
    for k in processes:
        for label, arm in (("A/A (A' vs A)", "A2"), ("+10 % knob (B vs A)", "B")):
            pairs = [(arms["A"], arms[arm]) for arms in data.values()]
            r = rates(pairs, k, loose)
            lines.append(f"| {label} | {k} | {r['slower']:.0%} | {r['unchanged']:.0%} | {r['faster']:.0%} | "
                         f"{r['unstable']:.0%} | {r['pb_fail_first']:.0%} | {r['pb_fail_pooled']:.0%} | "
                         f"{r['median_ratio']:.3f} |")
    for kind, what in (("abs", "seconds"), ("gate", "what the gate judges")):
        cvs = [float(np.std(m, ddof=1) / np.mean(m)) for arms in data.values() for arm in arms.values()
               for m in [[float(np.median(p)) for p in arm[kind]]]]
        lines += ["", f"noise ({what}): coefficient of variation of the process medians within one run: median "
                  f"{np.median(cvs):.1%}, range {min(cvs):.1%} .. {max(cvs):.1%} over {len(cvs)} runs"]
    lines += ["", "power by synthetic slowdown (A' rounds scaled by 1+s, compared with A):", ""]
    variants = [(k, "default", s) for k in processes] + [(k, "noise check off", loose) for k in processes]
    lines += ["| s | " + " | ".join(f"{k} processes, {name}: perflab slower" for k, name, _ in variants)
              + " | pytest-benchmark fail (1st process) |", "|---|" + "---|" * (len(variants) + 1)]
    smallest: dict[tuple[int, str], float | None] = {(k, name): None for k, name, _ in variants}
    for sc in SCALES:
        pairs = [(arms["A"], scaled(arms["A2"], sc)) for arms in data.values()]
        cells = []
        pb = 0.0
        for k, name, st in variants:
            r = rates(pairs, k, st)
            cells.append(f"{r['slower']:.0%}")
            pb = r["pb_fail_first"]
            if smallest[(k, name)] is None and r["slower"] >= 0.80:
                smallest[(k, name)] = sc
        lines.append(f"| {sc:.0%} | " + " | ".join(cells) + f" | {pb:.0%} |")
    lines.append("")
    for (k, name), v in smallest.items():
        lines.append(f"smallest slowdown called slower in >= 80 % of repetitions, {k} processes, {name}: "
                     + (f"{v:.0%}" if v is not None else f"none up to {SCALES[-1]:.0%}"))
    return "\n".join(lines)


def simulate(trials: int = 100, seed: int = 0, settings: GateSettings | None = None) -> str:
    """The gate's rates on synthetic data with known noise (a check of the design, not a measurement).

    Each run: a session-wide speed factor (drift between runs, sd 1.5 %), each process its own level
    (sd = process CV), each round 3 % noise around it; 60 rounds per process.
    """
    s = settings or GateSettings()
    rng = np.random.default_rng(seed)

    def run(k: int, cv: float, slow: float) -> list[list[float]]:
        drift = 1 + rng.normal(0, 0.015)
        return [list(1e-3 * (1 + slow) * drift * (1 + rng.normal(0, cv)) * (1 + rng.normal(0, 0.03, 60)))
                for _ in range(k)]

    lines = ["| process CV | processes | A/A slower | A/A unstable | +10 % slower | +10 % unstable |",
             "|---|---|---|---|---|---|"]
    for cv in (0.01, 0.02, 0.04, 0.08):
        for k in (3, 5):
            aa = [compare_samples(run(k, cv, 0), run(k, cv, 0), s).verdict for _ in range(trials)]
            bb = [compare_samples(run(k, cv, 0), run(k, cv, 0.10), s).verdict for _ in range(trials)]
            lines.append(f"| {cv:.0%} | {k} | {aa.count(Verdict.SLOWER) / trials:.0%} | "
                         f"{aa.count(Verdict.UNSTABLE) / trials:.0%} | {bb.count(Verdict.SLOWER) / trials:.0%} | "
                         f"{bb.count(Verdict.UNSTABLE) / trials:.0%} |")
    return "\n".join(lines)
