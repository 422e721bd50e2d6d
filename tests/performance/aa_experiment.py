"""A/A and injected-slowdown experiment for perflab's regression gate (its figures: docs, measured figures).

Data collection and analysis are separate so every decision rule is judged on the same runs:

    python tests/performance/aa_experiment.py collect --reps 30 --out /tmp/aa   # real runs, ~35 min
    python tests/performance/aa_experiment.py analyze /tmp/aa                  # verdict rates, seconds

``collect`` runs one reduced sort profile (counting_sort, n=10000, 5 processes, 0.2 s per process) through the
real CLI, ``perflab --headless --json``, in three arms per repetition, in a shuffled order so machine drift hits
every arm alike: A (baseline), A' (the same code again) and B (``PERFLAB_DEMO_SLOWDOWN=0.10``). Each run's raw
rounds per process are appended to ``runs.jsonl``. ``analyze`` compares A' with A (false "slower" rate) and B
with A (detection rate) with perflab's gate (core.compare) at 3 and 5 processes, and with pytest-benchmark's
``--benchmark-compare-fail=mean:5%`` rule on the same data; it also scales A' by 1+s to find the smallest
slowdown detected with 80 % power.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROFILE = """\
name = "aa-sort"
description = "A/A experiment: counting_sort at n=10000"
timeout = "5m"
tolerance = "5%"

[target]
callable = "perflab.demo.sorting:counting_sort"
input = "perflab.demo.sorting:random_ints"

[test]
type = "benchmark"
n = [10_000]
processes = {processes}
max_time = "{max_time}"
warmup_iterations = 20
"""

ARMS = {"A": 0.0, "A2": 0.0, "B": 0.10}


def run_once(profile: Path, store: Path, slowdown: float) -> dict:
    """One real ``perflab --headless`` run; returns its result dict (raw rounds per process)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        env = dict(os.environ)
        env.pop("PERFLAB_DEMO_SLOWDOWN", None)
        if slowdown:
            env["PERFLAB_DEMO_SLOWDOWN"] = str(slowdown)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "perflab", "--headless", str(profile), "-q",
                               "--no-baseline", "--json", str(out), "--store", str(store)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"perflab exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
        doc = json.loads(out.read_text())
        run = doc["runs"][0]
        return {"raw": run["result"]["raw"], "session": run["session"], "wall": time.monotonic() - t0}


def collect(out: Path, reps: int, processes: int, max_time: str, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    profile = out / "aa-sort.toml"
    profile.write_text(PROFILE.format(processes=processes, max_time=max_time))
    data = out / "runs.jsonl"
    done = set()
    if data.exists():
        for line in data.read_text().splitlines():
            rec = json.loads(line)
            done.add((rec["rep"], rec["arm"]))
    rng = random.Random(seed)
    for rep in range(reps):
        arms = list(ARMS)
        rng.shuffle(arms)
        for arm in arms:
            if (rep, arm) in done:
                continue
            res = run_once(profile, out / "store", ARMS[arm])
            rec = {"rep": rep, "arm": arm, "slowdown": ARMS[arm], "t": time.time(), **res}
            with data.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(f"rep {rep + 1}/{reps} arm {arm}: {res['wall']:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="run the experiment for real")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--reps", type=int, default=30)
    c.add_argument("--processes", type=int, default=5)
    c.add_argument("--max-time", default="0.2s")
    c.add_argument("--seed", type=int, default=1)
    a = sub.add_parser("analyze", help="verdict rates from collected runs")
    a.add_argument("out", type=Path)
    sim = sub.add_parser("simulate", help="the gate's rates on synthetic data of known noise (design check)")
    sim.add_argument("--trials", type=int, default=100)
    ns = ap.parse_args(argv)
    if ns.cmd == "simulate":
        from tests.performance.aa_analysis import simulate

        print(simulate(ns.trials))
        return 0
    if ns.cmd == "collect":
        collect(ns.out, ns.reps, ns.processes, ns.max_time, ns.seed)
        return 0
    from tests.performance.aa_analysis import analyze  # noqa: PLC0415 - needs perflab's stats only here

    print(analyze(ns.out))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
