"""Measurement truth of the wall-time gate with adaptive processes, beside pytest-benchmark's own rule.

    python tests/performance/walltime_truth.py --reps 30 --out /tmp/wt          # the study (about an hour)
    python tests/performance/walltime_truth.py --reps 1 --out /tmp/wt-smoke      # a proof that it runs

Three targets, each its own profile (so the processes adapt to it alone), with perflab's defaults for the gate
(`processes = 3`, `[gate] max_processes = 10`, `baseline_processes = 10`, tolerance 5 %, calibration judged only
where it narrows the spread): a pure-Python loop, a `json` round trip and a `re` scan (their time is spent in C).
For each target one baseline is saved (`--save-baseline`), then every repetition runs, through the real CLI
(`perflab --headless --json`), the same code again (A') and the code with 10 % more iterations of its loop (B:
real extra work, no clock), in a shuffled order. Before that, the real cost of the extra iterations is measured
in-process with timeit on the thread's CPU clock (alternated, minimum of the repeats), so "+10 %" is a measured
figure, not a hope.

Judged on the same runs: perflab's verdict (the run's exit code and comparison) and pytest-benchmark's
`--benchmark-compare-fail=mean:5%` rule (its own check, ``pytest_benchmark.utils.parse_compare_fail``) applied
to the first process of the run against the first process of the baseline, the single run a pytest-benchmark
user compares. Printed per target: A' false "slower" rate, B caught rate, inconclusive rate, processes used,
pytest-benchmark's false / caught rates. Every run is appended to ``OUT/runs.jsonl``; ``--analyze`` reprints the
summary from it; ``--replay`` judges the stored runs again with the current gate. The load average is recorded
with each run: the study's conditions are part of its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import timeit
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("loop", "json_roundtrip", "re_scan")
EXTRA = 0.10

USERCODE = """\
import json
import re

EXTRA = {extra:.4f}  # the fraction of extra iterations: real extra work
DOC = {{"items": [{{"id": i, "name": f"item{{i}}", "tags": ["a", "b"], "price": i * 1.5}} for i in range(100)]}}
TEXT = " ".join(f"user{{i}}@example.org id={{i}} status=ok" for i in range(300))
PATTERN = re.compile(r"(\\w+)@(\\w+)\\.org id=(\\d+)")


def loop():
    total = 0
    for i in range(int(20000 * (1 + EXTRA))):
        total += i * i % 7
    return total


def json_roundtrip():
    for _ in range(int(40 * (1 + EXTRA))):
        json.loads(json.dumps(DOC))


def re_scan():
    n = 0
    for _ in range(int(20 * (1 + EXTRA))):
        n += len(PATTERN.findall(TEXT))
    return n
"""

PROFILE = """\
name = "truth-{target}"
timeout = "15m"

[gate]
max_processes = {max_processes}
baseline_processes = {baseline_processes}

[target]
callable = "usercode:{target}"

[test]
type = "benchmark"
processes = {processes}
max_time = "{max_time}"
warmup_iterations = 20
"""


def measured_extra(extra: float, repeats: int = 9) -> dict[str, float]:
    """The real cost of ``extra`` more iterations per target: the ratio of the minimum CPU times (thread CPU
    clock, so time spent waiting for a core on a loaded machine is not counted), alternated in-process."""
    plain: dict[str, Any] = {}
    more: dict[str, Any] = {}
    exec(USERCODE.format(extra=0.0), plain)  # noqa: S102 - our own template
    exec(USERCODE.format(extra=extra), more)  # noqa: S102
    out = {}
    for name in TARGETS:
        a, b = [], []
        for _ in range(repeats):
            a.append(min(timeit.Timer(plain[name], timer=time.thread_time).repeat(number=3, repeat=5)))
            b.append(min(timeit.Timer(more[name], timer=time.thread_time).repeat(number=3, repeat=5)))
        out[name] = min(b) / min(a) - 1
    return out


def pb_fails(base_json: Path, cand_json: Path) -> bool | None:
    """pytest-benchmark's ``--benchmark-compare-fail=mean:5%`` on one process's JSON against the baseline's;
    None when a file is missing."""
    from pytest_benchmark.utils import parse_compare_fail

    if not (base_json.is_file() and cand_json.is_file()):
        return None
    check = parse_compare_fail("mean:5%")
    base = json.loads(base_json.read_text())["benchmarks"][0]["stats"]
    cand = json.loads(cand_json.read_text())["benchmarks"][0]["stats"]
    return bool(check.fails(cand, base))


def run(root: Path, target: str, extra: float, *args: str) -> dict[str, Any]:
    (root / "usercode.py").write_text(USERCODE.format(extra=extra), encoding="utf-8")
    out = root / "out.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{root}:{REPO}"}
    env.pop("PERFLAB_DEMO_SLOWDOWN", None)
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "perflab", "--headless", f"truth-{target}.toml", "--baseline-dir",
                           "bl", "--store", "store", "--json", str(out), "-q", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=1800)
    doc = json.loads(out.read_text()) if out.exists() else {}
    first = (doc.get("runs") or [{}])[0]
    result = first.get("result", {})
    rows = result.get("data", {}).get("comparison", {}).get("rows", [])
    row = rows[0] if rows else {}
    return {"target": target, "extra": extra, "exit": proc.returncode, "seconds": time.monotonic() - t0,
            "load": load, "session": first.get("session"),
            "verdict": ("inconclusive" if row.get("inconclusive") else row.get("verdict")) if row else None,
            "metric": row.get("key", "").partition("{")[0], "ratio": row.get("ratio"), "ci": row.get("ci"),
            "processes": result.get("data", {}).get("adaptive", {}).get("ran"),
            "stderr": proc.stderr[-300:]}


def summarize(records: list[dict[str, Any]], measured: dict[str, float] | None) -> str:
    by: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("arm") in ("A'", "B"):
            by[(r["target"], r["extra"])].append(r)
    lines = ["target          arm  n   slower  inconcl.  unchanged/other  processes (median, max)  "
             "judged on          pytest-benchmark mean:5% fails"]
    for (target, extra), rs in sorted(by.items()):
        n = len(rs)
        slower = sum(r["verdict"] == "slower" for r in rs)
        inconclusive = sum(r["verdict"] in ("inconclusive", "unstable") for r in rs)
        procs = [r["processes"] for r in rs if r["processes"]]
        metrics = sorted({r["metric"] for r in rs if r["metric"]})
        pb = [r["pb_fails"] for r in rs if r.get("pb_fails") is not None]
        arm = "A'" if extra == 0 else f"B+{extra * 100:.0f}%"
        lines.append(f"{target:15s} {arm:5s}{n:3d}  {slower:3d}/{n:<3d} {inconclusive:3d}/{n:<3d}   "
                     f"{n - slower - inconclusive:3d}/{n:<3d}          "
                     f"{statistics.median(procs) if procs else '-':>4}, {max(procs) if procs else '-':>3}"
                     f"                {','.join(metrics):18s} {sum(pb)}/{len(pb)}")
    loads = [r["load"] for r in records if "load" in r]
    if loads:
        lines.append(f"load average (1 min) at the runs' start: {min(loads):.1f} .. {max(loads):.1f}")
    if measured:
        lines.append("measured cost of the B arm's extra iterations (timeit, min of repeats): "
                     + ", ".join(f"{k} {v * 100:+.1f} %" for k, v in measured.items()))
    return "\n".join(lines)


def replay(out: Path) -> str:
    """Every stored A'/B run of ``out`` judged again by this checkout's gate (core.compare with the default
    settings), the adaptive stop replayed on the run's processes in their order (from 3 processes on, one more
    while undecided, up to 10); and the spread of the process medians of the judged measure, within a run and
    between the centers of the runs (what the processes' spread predicts for the centers is beside it: a larger
    figure means the processes of one run moved together)."""
    import numpy as np

    from perflab.core.compare import compare
    from perflab.core.stats import GateSettings, process_medians
    from perflab.store.sessions import SessionStore

    records = [json.loads(x) for x in (out / "runs.jsonl").read_text().splitlines()]
    settings = GateSettings()
    verdicts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    spreads: dict[tuple[str, str, str], list[tuple[float, float, int]]] = defaultdict(list)
    with SessionStore(out / "store", readonly=True) as store:
        base = {r["target"]: store.get(r["session"]).result.raw for r in records if r.get("arm") == "baseline"}
        for r in records:
            if r.get("arm") not in ("A'", "B"):
                continue
            raw = store.get(r["session"]).result.raw
            n = max(len(v) for v in raw.values())
            verdict = "had too few processes to decide"
            for k in range(min(3, n), n + 1):
                c = compare(base[r["target"]], {key: v[:k] for key, v in raw.items()}, settings=settings)
                if c.slower:
                    verdict = "slower"
                    break
                if not [x for x in c.undecided if x.result.unusable != "baseline"]:
                    verdict = "unchanged or faster"
                    break
                if k >= settings.max_processes:
                    verdict = "inconclusive"
                    break
            verdicts[(r["target"], r["arm"])][verdict] += 1
            for row in c.rows:
                logs = np.log(process_medians(raw[row.key][:k]))
                if logs.size >= 2:
                    spreads[(r["target"], r["arm"], row.name)].append((float(logs.mean()), float(logs.var(ddof=1)),
                                                                       int(logs.size)))
    lines = ["judged again by this checkout's gate:"]
    lines += [f"  {t:15s} {arm:2s} {dict(c)}" for (t, arm), c in sorted(verdicts.items())]
    lines.append("spread of the process medians (log standard deviation) of the judged measure:")
    for (t, arm, name), xs in sorted(spreads.items()):
        if len(xs) < 2:
            continue
        centers = np.array([x[0] for x in xs])
        within = float(np.mean([x[1] for x in xs]))
        predicted = float(np.mean([x[1] / x[2] for x in xs]))
        lines.append(f"  {t:15s} {arm:2s} {name:8s} within a run {within ** 0.5 * 100:.2f} %; centers of "
                     f"{len(xs)} runs {float(centers.std(ddof=1)) * 100:.2f} % (independent processes would give "
                     f"{predicted ** 0.5 * 100:.2f} %)")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--max-processes", type=int, default=10)
    ap.add_argument("--baseline-processes", type=int, default=10)
    ap.add_argument("--max-time", default="0.1s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeit-repeats", type=int, default=9, help="alternations measuring the extra work's cost")
    ap.add_argument("--analyze", action="store_true", help="only reprint the summary of OUT/runs.jsonl")
    ap.add_argument("--replay", action="store_true",
                    help="judge the stored runs of OUT again with this checkout's gate, and print their spreads")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    log_path = a.out / "runs.jsonl"
    if a.replay:
        print(replay(a.out))
        return 0
    if a.analyze:
        records = [json.loads(x) for x in log_path.read_text().splitlines()]
        measured = next((r["measured"] for r in records if r.get("arm") == "measured"), None)
        print(summarize(records, measured))
        return 0
    targets = [t for t in a.targets.split(",") if t]
    measured = measured_extra(EXTRA, a.timeit_repeats)
    print("measured cost of +10 % iterations: " + ", ".join(f"{k} {v * 100:+.1f} %" for k, v in measured.items()),
          flush=True)
    records: list[dict[str, Any]] = []
    with log_path.open("a", encoding="utf-8") as log:
        log.write(json.dumps({"arm": "measured", "measured": measured}) + "\n")
        baselines: dict[str, str] = {}
        for target in targets:
            (a.out / f"truth-{target}.toml").write_text(PROFILE.format(
                target=target, processes=a.processes, max_processes=a.max_processes,
                baseline_processes=a.baseline_processes, max_time=a.max_time), encoding="utf-8")
            base = run(a.out, target, 0.0, "--save-baseline")
            if base["exit"] != 0 or not base["session"]:
                print(f"{target}: the baseline run failed (exit {base['exit']}): {base['stderr']}", file=sys.stderr)
                return 3
            baselines[target] = base["session"]
            log.write(json.dumps({**base, "arm": "baseline"}) + "\n")
            print(f"{target}: baseline with {base['processes']} processes in {base['seconds']:.0f} s", flush=True)
        plan = [(t, x) for _ in range(a.reps) for t in targets for x in (0.0, EXTRA)]
        random.Random(a.seed).shuffle(plan)
        artifacts = a.out / "store" / "artifacts"
        for i, (target, extra) in enumerate(plan, start=1):
            r = run(a.out, target, extra)
            r["arm"] = "A'" if extra == 0 else "B"
            r["pb_fails"] = pb_fails(artifacts / baselines[target] / "pytest-benchmark-1.json",
                                     artifacts / str(r["session"]) / "pytest-benchmark-1.json")
            records.append(r)
            log.write(json.dumps(r) + "\n")
            log.flush()
            print(f"{i}/{len(plan)} {target} {r['arm']}: {r['verdict']} ({r['metric']}, ratio "
                  f"{(r['ratio'] or 0) - 1:+.3f}) exit {r['exit']}, {r['processes']} processes, "
                  f"{r['seconds']:.0f} s, load {r['load']:.1f}; pytest-benchmark fails: {r['pb_fails']}", flush=True)
    print()
    print(summarize(records, measured))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
