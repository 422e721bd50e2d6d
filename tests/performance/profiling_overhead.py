"""What profiling costs the target: the CPU runner's live top-functions view and memray, A/B in one run.

    python tests/performance/profiling_overhead.py --alternate 40 --arms blocking,nonblocking   # ~14 min
    python tests/performance/profiling_overhead.py --rounds 8 --seconds 4      # separate runs, ~5 min

``--alternate`` is the issue's method (A/B within one target run) and gives the README's live-view figures;
see ``alternate``. The rounds mode below compares separate runs and includes memray.


Each round runs every arm once, in a shuffled order, on the demo targets, and reads the target's own
throughput (calls per second, reported by the loop agent over the side channel):

- ``plain``: the callable looped for ``seconds`` with nothing attached;
- ``live``: perflab's CPU runner (py-spy windows at the default 100 Hz, 2 s refresh, thread-share probe),
  through the real engine with the process monitor off, so only py-spy's cost is in the figure;
- ``continuous``: one plain ``py-spy record`` for the whole run (no live view), for comparison;
- ``memray``: ``memray run --trace-python-allocators`` (the memory runner's default) on the same callable,
  ``memray_fast`` without ``--trace-python-allocators``, and both on the leak demo's fixed twin, which
  allocates and frees a 10 KiB record per call (``fixed_*`` arms).

The cost of an arm is ``1 - median(arm / plain)`` over rounds (ratios taken within a round).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from perflab.core import profiles  # noqa: E402
from perflab.core.engine import Engine  # noqa: E402
from perflab.runners.framework.base import RunContext, runner_for  # noqa: E402
from perflab.runners.framework.process import Child  # noqa: E402

BUSY = "perflab.demo.busy:crunch"
FIXED = "perflab.demo.leaky:process_record_fixed"  # allocation-heavy, keeps nothing: can loop for a duration


async def _loop(config: dict[str, Any], prefix: list[str] | None = None, pyspy: bool = False,
                folder: Path | None = None) -> float:
    """Calls per second of the loop agent (optionally under a command prefix or a continuous py-spy)."""
    done: dict[str, Any] = {}
    argv = [*(prefix or [sys.executable]), "-m", "perflab.runners.agents.loop_call", json.dumps(config)]
    child = Child(argv, cwd=REPO, on_record=lambda r: done.update(r) if r["k"] == "done" else None)
    await child.start()
    spy = None
    if pyspy:
        assert folder is not None
        spy = Child(["py-spy", "record", "--pid", str(child.pid), "--format", "raw", "--rate", "100",
                     "--output", str(folder / "continuous.txt")], side_channel=False)
        await spy.start()
    await child.wait(timeout=600)
    if spy is not None:
        await spy.wait(timeout=30)
    return float(done["n"]) / float(done["elapsed"])


def _live(seconds: float, folder: Path) -> float:
    path = folder / "live.toml"
    path.write_text(textwrap.dedent(f"""
        name = "overhead-live"
        [target]
        callable = "{BUSY}"
        [test]
        type = "cpu"
        duration = "{seconds}s"
    """))
    profile = profiles.load(path, base=folder)
    engine = Engine(profile, [], runner_for=runner_for, context=RunContext, session_id="perf",
                    artifacts_dir=folder / "art", workdir=REPO, monitor=False)
    outcome = asyncio.run(engine.run())
    m = outcome.result.metric("calls_per_s")
    assert m is not None, outcome.result.message
    return m.value


def measure(rounds: int, seconds: float, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    busy = {"callable": BUSY, "duration": seconds}
    fixed = {"callable": FIXED, "duration": seconds}
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        memray_fast = [sys.executable, "-m", "memray", "run", "--quiet", "--force", "--output", str(folder / "m.bin")]
        memray = [*memray_fast, "--trace-python-allocators"]
        arms = {
            "plain": lambda: asyncio.run(_loop(busy)),
            "live": lambda: _live(seconds, folder),
            "continuous": lambda: asyncio.run(_loop(busy, pyspy=True, folder=folder)),
            "memray": lambda: asyncio.run(_loop(busy, prefix=memray)),
            "memray_fast": lambda: asyncio.run(_loop(busy, prefix=memray_fast)),
            "fixed_plain": lambda: asyncio.run(_loop(fixed)),
            "fixed_memray": lambda: asyncio.run(_loop(fixed, prefix=memray)),
            "fixed_memray_fast": lambda: asyncio.run(_loop(fixed, prefix=memray_fast)),
        }
        for _ in range(rounds):
            order = list(arms)
            rng.shuffle(order)
            rows.append({name: arms[name]() for name in order})
    def cost(arm: str, base: str) -> float:
        return 1.0 - statistics.median(r[arm] / r[base] for r in rows)
    return {
        "rounds": rows,
        "live_cost": cost("live", "plain"),
        "continuous_cost": cost("continuous", "plain"),
        "memray_cost_busy": cost("memray", "plain"),
        "memray_fast_cost_busy": cost("memray_fast", "plain"),
        "memray_cost_fixed": cost("fixed_memray", "fixed_plain"),
        "memray_fast_cost_fixed": cost("fixed_memray_fast", "fixed_plain"),
        "plain_calls_per_s": statistics.median(r["plain"] for r in rows),
    }


async def alternate(pairs: int, phase: float = 5.0, arms: tuple[str, ...] = ("live",), rate: int = 100,
                    seed: int = 0) -> dict[str, Any]:
    """One long target run; the real live view switched on and off in turns.

    Each round runs an ``off`` phase and one phase per arm, in a shuffled order, each ``phase`` seconds
    long. An arm is the CPU runner's own ``Sampler`` (py-spy windows every 2 s, the thread-share probe beside
    the second window, the top-functions table re-emitted after every window), as a default ``phase``-second
    run of ``type = "cpu"`` does it, attached to the running target: ``live`` with the default options,
    ``blocking`` with ``nonblocking = false``, ``nonblocking`` with ``nonblocking = true``. Adjacent phases
    share the machine's state, so the ratios are far less noisy than separate runs. The target's throughput
    in each phase comes from its progress records (every 0.05 s), interpolated at the phase boundaries.
    """
    import time

    from perflab.runners.framework import flame
    from perflab.runners.framework.base import RunContext
    from perflab.runners.framework.sampling import Sampler

    options = {"live": {}, "blocking": {"nonblocking": False}, "nonblocking": {"nonblocking": True}}
    rng = random.Random(seed)
    marks: list[tuple[float, int]] = []

    def on_record(rec: dict[str, Any]) -> None:
        if rec["k"] in ("progress", "done"):
            marks.append((time.monotonic(), int(rec["n"])))

    def n_at(t: float) -> float:
        before = [m for m in marks if m[0] <= t]
        after = [m for m in marks if m[0] > t]
        if not before or not after:
            return float(before[-1][1] if before else 0)
        (t0, n0), (t1, n1) = before[-1], after[0]
        return n0 + (n1 - n0) * (t - t0) / (t1 - t0)

    total = pairs * (len(arms) + 1) * (phase + 1.5) + 10
    cfg = {"callable": BUSY, "duration": total, "report": 0.05}
    target = Child([sys.executable, "-m", "perflab.runners.agents.loop_call", json.dumps(cfg)], cwd=REPO,
                   on_record=on_record)
    await target.start()
    rows: list[dict[str, float]] = []
    stacks: dict[str, Counter[Any]] = {arm: Counter() for arm in arms}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            await asyncio.sleep(1.0)  # warm-up: imports done, loop running

            async def run_phase(arm: str) -> float:
                ctx = RunContext(session_id="perf", emit=lambda e: None, artifacts_dir=Path(tmp))
                sampler = Sampler(ctx, "py-spy", target.pid, {"rate": rate, **options.get(arm, {})}, None, arm)
                start = time.monotonic()
                if arm == "off":
                    await asyncio.sleep(phase)
                else:
                    await sampler.run(phase)  # every window it opened is stopped and read before it returns
                end = time.monotonic()
                if arm != "off":
                    stacks[arm].update(sampler.stacks)
                await asyncio.sleep(0.3)  # let the records of the boundary arrive; py-spy fully gone
                return (n_at(end) - n_at(start)) / (end - start)

            for _ in range(pairs):
                order = ["off", *arms]
                rng.shuffle(order)
                rows.append({arm: await run_phase(arm) for arm in order})
    finally:
        await target.stop()
    ratios = {arm: [r[arm] / r["off"] for r in rows] for arm in arms}
    # accuracy: what each arm says about the demo's hot function (own share of samples)
    shares = {arm: {f.function: f.own for f in flame.top_functions(st, 5)} for arm, st in stacks.items()}
    samples = {arm: sum(st.values()) for arm, st in stacks.items()}
    return {"rounds": rows, "ratios": ratios, "samples": samples, "shares": shares,
            "cost": {arm: 1.0 - statistics.median(v) for arm, v in ratios.items()},
            "cost_ci": {arm: bootstrap_median_cost(v, seed) for arm, v in ratios.items()}}


def bootstrap_median_cost(ratios: list[float], seed: int = 0, n: int = 5000) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of ``1 - median(ratio)``."""
    rng = random.Random(seed)
    meds = sorted(1.0 - statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--alternate", type=int, metavar="ROUNDS",
                    help="instead: one target run with the live view switched on and off, ROUNDS rounds")
    ap.add_argument("--phase", type=float, default=5.0, help="--alternate: seconds per phase (default 5)")
    ap.add_argument("--arms", default="live", help="--alternate: comma-separated arms among live (default "
                    "options), blocking, nonblocking (default: live)")
    args = ap.parse_args()
    if args.alternate:
        arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
        alt = asyncio.run(alternate(args.alternate, args.phase, arms))
        for row in alt["rounds"]:
            print("  " + "  ".join(f"{k}={v:,.0f}/s" for k, v in row.items()))
        print(f"live view on vs off in one target run, {args.alternate} rounds of {args.phase:g} s phases "
              f"(busy:crunch, 100 Hz):")
        for arm in arms:
            q = statistics.quantiles(alt["ratios"][arm], n=4)
            lo, hi = alt["cost_ci"][arm]
            print(f"  {arm:<12} median cost {alt['cost'][arm] * 100:+.1f} % (95 % CI {lo * 100:+.1f} to "
                  f"{hi * 100:+.1f} %; ratio quartiles {q[0]:.3f} .. {q[2]:.3f}; {alt['samples'][arm]:,} samples, "
                  f"checksum own {alt['shares'][arm].get('checksum', 0.0) * 100:.1f} %)")
        return 0
    res = measure(args.rounds, args.seconds)
    for r in res["rounds"]:
        print("  " + "  ".join(f"{k}={v:,.0f}/s" for k, v in sorted(r.items())))
    print(f"median cost to the target over {args.rounds} rounds of {args.seconds:g} s:")
    print(f"  {'live top-functions view (py-spy windows, 100 Hz):':<60}{res['live_cost'] * 100:+.1f} %")
    print(f"  {'one continuous py-spy record (100 Hz):':<60}{res['continuous_cost'] * 100:+.1f} %")
    for key, what in (("memray_cost_busy", "memray (python allocators) on busy:crunch"),
                      ("memray_fast_cost_busy", "memray (default tracing) on busy:crunch"),
                      ("memray_cost_fixed", "memray (python allocators) on leaky:process_record_fixed"),
                      ("memray_fast_cost_fixed", "memray (default tracing) on leaky:process_record_fixed")):
        print(f"  {what + ':':<60}{res[key] * 100:+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
