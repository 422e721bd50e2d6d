"""A/A spread and detection of small real slowdowns with ``measure = "instructions"`` (docs: measured figures).

    python tests/performance/instructions_aa.py --reps 5 --extra 0.01,0.005 --tolerance 0.5% --out /tmp/ia

One baseline is saved, then each repetition runs, through the real CLI (``perflab --headless --json``), the same
code again (A') and the code with a fraction more iterations of each benchmarked loop (B; real extra work, no
clock), in a shuffled order. Two benchmarks: a pure-Python loop and a ``json`` round trip (time spent in C).
Printed: per arm and benchmark, the gate's verdicts at ``--tolerance``, the largest disagreement between the two
processes of a run, the count's change against the baseline, and how many runs' counts rose by more than 0.25,
0.5 and 1 % (what the gate would call "slower" at those tolerances, the processes agreeing). Every run's result is appended to ``OUT/runs.jsonl``;
``--summarize --out OUT`` prints the figures of the runs recorded there (a study stopped early included).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

USERCODE = """\
import json

EXTRA = {extra:.4f}  # the fraction of extra iterations: real extra work
DOC = {{"items": [{{"id": i, "name": f"item{{i}}", "tags": ["a", "b"], "price": i * 1.5}} for i in range(100)]}}


def loop():
    total = 0
    for i in range(round(40000 * (1 + EXTRA))):
        total += i * i % 7
    return total


def json_roundtrip():
    for _ in range(round(400 * (1 + EXTRA))):
        json.loads(json.dumps(DOC))
"""

PROFILE = """\
name = "counted"
{tolerance}

[target]
callable = "usercode:loop"

[test]
type = "benchmark"
measure = "instructions"
compare = ["usercode:json_roundtrip"]
"""


def run(root: Path, extra: float, *args: str) -> dict:
    (root / "usercode.py").write_text(USERCODE.format(extra=extra), encoding="utf-8")
    out = root / "out.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PERFLAB_STORE": str(root / "store"), "PYTHONPATH": f"{root}:{REPO}"}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "perflab", "--headless", "counted.toml", "--baseline-dir", "bl",
                           "--json", str(out), "-q", *args], cwd=root, env=env, capture_output=True, text=True)
    doc = json.loads(out.read_text()) if out.exists() else {}
    result = (doc.get("runs") or [{}])[0].get("result", {})
    return {"extra": extra, "exit": proc.returncode, "seconds": time.monotonic() - t0, "result": result,
            "stderr": proc.stderr[-500:]}


def summarize(records: list[dict], tolerance: str | None) -> None:
    """Print the study's figures from its runs (the baseline's record first, as in ``runs.jsonl``)."""
    verdicts: dict[tuple[float, str], Counter[str]] = defaultdict(Counter)
    changes: dict[tuple[float, str], list[float]] = defaultdict(list)
    spread = 0.0
    for r in records:
        for b in r["result"].get("data", {}).get("instructions", {}).get("benchmarks", []):
            spread = max(spread, b["spread"])
        if r.get("baseline"):
            continue
        for row in r["result"].get("data", {}).get("comparison", {}).get("rows", []):
            name = row["key"].partition("=")[2].rstrip("}")
            verdicts[(r["extra"], name)][row["verdict"]] += 1
            changes[(r["extra"], name)].append(row["ratio"] - 1)
    seconds = sorted(r["seconds"] for r in records)
    compared = sum(1 for r in records if not r.get("baseline"))
    print(f"\n{compared} runs compared with the baseline; tolerance {tolerance or 'default'}; largest "
          f"disagreement between the 2 processes of a run: {spread * 100:.4f} %")
    print(f"seconds per run: median {seconds[len(seconds) // 2]:.1f}")
    for (extra, name), c in sorted(verdicts.items()):
        ch = changes[(extra, name)]
        over = "  ".join(f"> {t:g} %: {sum(1 for x in ch if x * 100 > t)}/{len(ch)}" for t in (0.25, 0.5, 1.0))
        print(f"extra {extra * 100:4.1f} % {name:18s} {dict(c)}  count change {min(ch) * 100:+.3f} .. "
              f"{max(ch) * 100:+.3f} %  (rises {over})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--extra", default="0.01", help="comma-separated fractions of extra work (arms B)")
    ap.add_argument("--tolerance", default=None, help="the profile's tolerance (default: none, the gate's own)")
    ap.add_argument("--summarize", action="store_true",
                    help="print the figures of the runs already in OUT/runs.jsonl (a study stopped early)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    log_path = a.out / "runs.jsonl"
    if a.summarize:
        lines = log_path.read_text(encoding="utf-8").splitlines()
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # the line being written when the study was stopped
                print(f"skipped an unfinished line of {log_path} ({len(line)} characters)")
        summarize(records, a.tolerance)
        return
    a.out.mkdir(parents=True, exist_ok=True)
    key = f'tolerance = "{a.tolerance}"' if a.tolerance else ""
    (a.out / "counted.toml").write_text(PROFILE.format(tolerance=key), encoding="utf-8")
    base = run(a.out, 0.0, "--save-baseline")
    assert base["exit"] == 0, base
    arms = [0.0, *(float(x) for x in a.extra.split(","))]
    plan = [x for _ in range(a.reps) for x in arms]
    random.Random(1).shuffle(plan)
    records = [{**base, "baseline": True}]
    with log_path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(records[0]) + "\n")
        for extra in plan:
            r = run(a.out, extra)
            log.write(json.dumps(r) + "\n")
            log.flush()
            records.append(r)
            print(f"extra {extra:.3f}: exit {r['exit']} in {r['seconds']:.0f} s", flush=True)
    summarize(records, a.tolerance)


if __name__ == "__main__":
    main()
