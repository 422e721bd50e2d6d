"""Where this machine's benchmark noise comes from: can a reference loop measured in the same process cancel it?

    python tests/performance/drift_probe.py --processes 12 --seconds 3

Each of ``processes`` fresh interpreters times the demo's ``counting_sort`` on 10,000 ints for ``seconds``,
alternating every call with a fixed pure-Python reference loop, and also times the reference alone for 0.3 s
before and after. Printed: the coefficient of variation across processes of

- the raw median time (what the regression gate compares with ``calibrate = false``),
- the median time divided by the reference measured before or after it (a per-process calibration),
- the median of the per-call ratios target / interleaved reference (a reference interleaved call by call).

If the machine's speed drifts as a whole, the ratios cancel the drift and their CV is far lower than the raw
one. This is the experiment behind the benchmark runner's calibration (``calibrate = true``, a reference loop
timed around every round): only a reference next to every round tracks the drift.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, statistics, sys, time
from perflab.demo.sorting import counting_sort, random_ints

data = random_ints(10_000)

def ref():
    s = 0
    for i in range(20_000):
        s += i * i % 7
    return s

def alone(fn, seconds):
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = time.perf_counter(); fn(); times.append(time.perf_counter() - a)
    return statistics.median(times)

before = alone(ref, 0.3)
target, ratios, end = [], [], time.perf_counter() + float(sys.argv[1])
while time.perf_counter() < end:
    a = time.perf_counter(); ref(); b = time.perf_counter(); counting_sort(data); c = time.perf_counter()
    target.append(c - b); ratios.append((c - b) / (b - a))
after = alone(ref, 0.3)
print(json.dumps({"target": statistics.median(target), "before": before, "after": after,
                  "ratio": statistics.median(ratios)}))
"""


def probe(processes: int, seconds: float) -> dict[str, Any]:
    rows = []
    for _ in range(processes):
        out = subprocess.run([sys.executable, "-c", CHILD, str(seconds)], cwd=REPO, capture_output=True, text=True,
                             check=True, timeout=seconds + 60).stdout
        rows.append(json.loads(out))

    def cv(xs: list[float]) -> float:
        return statistics.pstdev(xs) / statistics.mean(xs)

    return {
        "raw": cv([r["target"] for r in rows]),
        "per_process_before": cv([r["target"] / r["before"] for r in rows]),
        "per_process_after": cv([r["target"] / r["after"] for r in rows]),
        "interleaved": cv([r["ratio"] for r in rows]),
        "rows": rows,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    res = probe(args.processes, args.seconds)
    for r in res["rows"]:
        print(f"  target {r['target'] * 1e3:.3f} ms  reference before {r['before'] * 1e3:.3f} ms  "
              f"after {r['after'] * 1e3:.3f} ms  interleaved ratio {r['ratio']:.3f}")
    print(f"CV across {args.processes} processes: raw median {res['raw'] * 100:.1f} %, / reference before "
          f"{res['per_process_before'] * 100:.1f} %, / reference after {res['per_process_after'] * 100:.1f} %, "
          f"interleaved ratio {res['interleaved'] * 100:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
