"""Benchmark runner on pytest-benchmark.

Targets: a pytest file or folder of benchmark tests, or a ``module:function`` callable (perflab generates the
pytest-benchmark test, with comparison callables measured on the same inputs). pytest runs ``processes``
times in independent processes; the agent plugin streams every finished benchmark with all its rounds.

Events: ``bench.round`` (seconds per iteration, one per round; labels benchmark, group, process),
``bench.median`` (per benchmark and process). Metrics per benchmark: min, max, mean, median, stdev, p95,
p99, ops, rounds; for callables with comparisons, ``ratio`` = median of the target / median of the other.

``calibrate = true`` (the default) runs pytest-benchmark with runners/agents/reftimer.py as its timer: a short
reference loop is timed around every round, and ``relative`` (round / reference, unit "ref") gets raw
samples per process. The regression gate judges ``relative`` where it measurably narrows the spread for that
benchmark (core.compare): it cancels the machine's speed drift for code like the pure-Python reference loop
(process-median CV 10.6 % in seconds, 2.2 % relative: README), less so for code whose time is spent in C.

The number of processes adapts (runners/benchmark/adaptive.py): ``processes`` first, then one at a time while
the comparison with the baseline is inconclusive, up to ``[gate] max_processes``; ``[gate] baseline_processes``
when the run is saved as the baseline.

``measure = "instructions"`` counts one call of each benchmark under valgrind instead (runners/benchmark/
instructions.py): same targets, ``instructions`` per benchmark (unit count), judged by core.counts.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from perflab.core import stats
from perflab.core.model import (
    Cell,
    ExitCode,
    Metric,
    Note,
    PerflabError,
    Profile,
    Quantity,
    Result,
    Status,
    SummaryTable,
    ToolError,
    labels,
)
from perflab.runners.agents import wire
from perflab.runners.agents.callable_bench import test_source
from perflab.runners.benchmark import adaptive
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.child import child_env

PLUGIN = "perflab.runners.agents.pytest_plugin"
REFTIMER = "perflab.runners.agents.reftimer.timer"


class BenchmarkRunner:
    test_type = "benchmark"

    async def run(self, profile: Profile, ctx: RunContext) -> Result:
        p = profile.test.params
        target = profile.target
        workdir = Path(target.options.get("cwd") or ctx.workdir)
        env = child_env(workdir, target.options.get("env") or {})
        if target.kind == "callable":
            test_path = self._generate(profile, ctx.artifacts_dir)
            extra = ["-c", str(ctx.artifacts_dir / "pytest.ini"), "--rootdir", str(ctx.artifacts_dir)]
        else:
            test_path = Path(target.value)
            extra = []
        plan = ctx.plan
        if p.get("measure") == "instructions":  # counted under callgrind instead of timed
            from perflab.runners.benchmark import instructions

            return await instructions.run(profile, ctx, test_path, extra, workdir, env)
        sched = adaptive.schedule(profile, plan)
        processes = sched.first  # planned so far: grows one at a time while the comparison is undecided
        runs: dict[str, dict[str, Any]] = {}  # benchmark name -> info and per-process rounds
        state = {"total": 0, "done": 0, "process": 0, "count": 0}
        failures: list[str] = []
        collect_errors: list[str] = []

        def on_record(rec: dict[str, Any]) -> None:
            msg = wire.parse(rec, wire.BENCH)
            if isinstance(msg, wire.BenchCollected):
                state["count"] = int(msg.count)
                state["total"] = int(msg.count) * processes
            elif isinstance(msg, wire.BenchStarted):
                ctx.phase("bench", f"process {state['process'] + 1}/{processes}: {msg.nodeid}",
                          _progress(state))
            elif isinstance(msg, wire.BenchResult):
                name = msg.name
                info = runs.setdefault(name, {"rec": msg, "rounds": {}})
                data = [float(x) for x in msg.data]
                info["rounds"][state["process"]] = data
                ref = msg.ref
                if ref and len(ref) == len(data) and all(r > 0 for r in ref):
                    info.setdefault("relative", {})[state["process"]] = [d / r for d, r in zip(data, ref, strict=True)]
                lb = labels(benchmark=name, group=msg.group or "", process=state["process"] + 1)
                for v in data:
                    ctx.sample("bench.round", v, lb)
                ctx.sample("bench.median", stats.percentile(data, 50), lb)
                state["done"] += 1
                ctx.phase("bench", f"process {state['process'] + 1}/{processes}: {name} done", _progress(state))
                if msg.outcome == "failed":
                    failures.append(f"{msg.nodeid}: {msg.error or _last_line(msg.longrepr)}")
            elif isinstance(msg, wire.BenchCollectError):
                collect_errors.append(f"{msg.nodeid or test_path}: {msg.error}")
            elif isinstance(msg, wire.BenchOutcome) and msg.outcome in ("failed", "error"):
                state["done"] += 1
                failures.append(f"{msg.nodeid}: {msg.error or _last_line(msg.longrepr)}")

        durations: list[float] = []
        stopped = ""
        i = 0
        while True:
            if i >= sched.first:  # the first batch ran: another process only while the comparison is undecided
                why = sched.undecided(summarize(profile, runs, i)) if runs else ""
                if not why:
                    stopped = "decided" if i > sched.first else ""
                    break
                if i >= sched.limit:
                    stopped = "limit"
                    break
                if not adaptive.fits(profile.timeout, ctx.now(), durations):
                    stopped = "timeout"
                    break
                processes = i + 1
                state["total"] = state["count"] * processes
                ctx.phase("process", f"{why}: adding process {processes} (at most {sched.limit})", _progress(state))
            state["process"] = i
            started = ctx.now()
            json_path = ctx.artifacts_dir / f"pytest-benchmark-{i + 1}.json"
            argv = [
                sys.executable, "-m", "pytest", str(test_path), *extra,
                "-p", PLUGIN, "-p", "no:cacheprovider", "-q", "--no-header",
                # pytest-codspeed (installed for measure = "instructions") would replace pytest-benchmark's
                # fixture if CODSPEED_ENV happened to be set
                "-p", "no:codspeed",
                "--benchmark-only",
                f"--benchmark-json={json_path}",
                f"--benchmark-min-rounds={p['min_rounds']}",
                f"--benchmark-min-time={p['min_time']:.9f}",
                f"--benchmark-max-time={p['max_time']:.9f}",
                "--benchmark-sort=name",
            ]
            if p["warmup"]:
                argv += ["--benchmark-warmup=on", f"--benchmark-warmup-iterations={p['warmup_iterations']}"]
            if p["disable_gc"]:
                argv.append("--benchmark-disable-gc")
            if p["calibrate"]:
                argv.append(f"--benchmark-timer={REFTIMER}")
            argv += list(p.get("pytest_args") or [])
            ctx.phase("process", f"pytest process {i + 1} of {processes}", _progress(state))
            child = await ctx.spawn(argv, source=f"pytest-{i + 1}", cwd=workdir, env=env, on_record=on_record)
            code = await child.wait()
            if json_path.exists():
                ctx.artifact("pytest-benchmark-json", json_path, f"pytest-benchmark JSON, process {i + 1}")
            if code == 5:
                raise PerflabError(f"{test_path}: no benchmarks found (pytest collected no test using the "
                                   "benchmark fixture)", ExitCode.BAD_INPUT)
            if collect_errors:
                raise ToolError("pytest could not collect " + collect_errors[0]
                                + (f" (and {len(collect_errors) - 1} more)" if len(collect_errors) > 1 else ""))
            if code in (3, 4) or (code == 2 and not runs):
                tail = _tail(child.stderr_tail) or _tail(child.stdout_tail)
                raise ToolError(f"pytest could not run {test_path} (exit code {code}): {tail}")
            if code < 0:
                raise ToolError(f"pytest was killed ({-code}) while running {test_path}: "
                                f"{_tail(child.stderr_tail)}")
            if failures:
                raise ToolError("benchmark test failed: " + failures[0]
                                + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))
            if code != 0:
                raise ToolError(f"pytest exited with code {code}: {_tail(child.stdout_tail)}")
            durations.append(ctx.now() - started)
            i += 1
        if not runs:
            raise PerflabError(f"{test_path}: no benchmarks ran", ExitCode.BAD_INPUT)
        result = summarize(profile, runs, i)
        said = adaptive.note(sched, i, stopped)
        data = {**result.data, "adaptive": {"requested": sched.requested, "limit": sched.limit, "ran": i,
                                            "stopped": stopped, "saving": sched.saving}}
        return replace(result, data=data, notes=(*result.notes, *((said,) if said else ())))

    @staticmethod
    def _generate(profile: Profile, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        p = profile.test.params
        grid = dict(p.get("params") or {})
        if p.get("n"):
            grid = {"n": list(p["n"]), **grid}
        config = {
            "callable": profile.target.value,
            "compare": list(p.get("compare") or []),
            "params": grid,
            "input": profile.target.options.get("input"),
            "args": list(profile.target.options.get("args") or []),
            "warmup_call": p.get("measure") == "instructions",
        }
        (folder / "pytest.ini").write_text("[pytest]\naddopts =\n", encoding="utf-8")
        path = folder / "test_perflab_generated.py"
        path.write_text(test_source(json.dumps(config)), encoding="utf-8")
        return path


def _progress(state: dict[str, int]) -> float | None:
    return state["done"] / state["total"] if state["total"] else None


def _last_line(text: str) -> str:
    lines = [x for x in str(text).strip().splitlines() if x.strip()]
    return lines[-1].strip() if lines else "failed"


def _tail(lines: Any) -> str:
    lines = [x for x in lines if x.strip()]
    return lines[-1].strip() if lines else "no output"


def summarize(profile: Profile, runs: dict[str, dict[str, Any]], processes: int) -> Result:
    metrics: list[Metric] = []
    raw: dict[str, tuple[tuple[float, ...], ...]] = {}
    rows: list[tuple[Cell, ...]] = []
    medians: dict[tuple[str, str], float] = {}  # (callable ref, group) -> median
    bench_data: list[dict[str, Any]] = []
    for name in sorted(runs, key=lambda n: _sort_key(runs[n]["rec"])):
        info = runs[name]
        rec = info["rec"]
        per_proc = [tuple(info["rounds"][k]) for k in sorted(info["rounds"])]
        pooled = [v for proc in per_proc for v in proc]
        d = stats.describe(pooled)
        lb = labels(benchmark=name)
        for key, unit in (("min", "s"), ("max", "s"), ("mean", "s"), ("median", "s"), ("stdev", "s"),
                          ("p95", "s"), ("p99", "s")):
            metrics.append(Metric(key, d[key], unit, lb))
        ops = 1.0 / d["mean"] if d["mean"] else 0.0
        metrics.append(Metric("ops", ops, "/s", lb))
        metrics.append(Metric("rounds", d["count"], "count", lb))
        raw[Metric("median", 0, "s", lb).key()] = tuple(per_proc)
        relative = info.get("relative") or {}
        if len(relative) == len(per_proc):  # every process measured the reference: the gate judges this
            rel = [tuple(relative[k]) for k in sorted(relative)]
            metrics.append(Metric("relative", stats.percentile([v for proc in rel for v in proc], 50), "ref", lb))
            raw[Metric("relative", 0, "ref", lb).key()] = tuple(rel)
        ref = (rec.extra_info or {}).get("callable")
        group = rec.group or ""
        if ref:
            medians[(ref, group)] = d["median"]
        bench_data.append({"name": name, "group": group, "callable": ref, "params": rec.params,
                           "iterations": rec.iterations, "stats": d,
                           "process_medians": [stats.percentile(x, 50) for x in per_proc]})
        rows.append((name, *(Quantity(d[k], "s") for k in ("min", "median", "mean", "stdev", "p95")),
                     int(d["count"]), Quantity(ops, "/s")))
    tables = [SummaryTable(f"{profile.name}: benchmarks ({processes} processes)",
                           ("benchmark", "min", "median", "mean", "stdev", "p95", "rounds", "ops/s"), tuple(rows))]
    notes: list[Note] = []
    compare = list(profile.test.params.get("compare") or [])
    if profile.target.kind == "callable" and compare:
        target = profile.target.value
        groups = [g for (r, g) in medians if r == target]
        ratio_rows: list[tuple[Cell, ...]] = []
        for other in compare:
            wins: list[str] = []
            for g in groups:
                a, b = medians.get((target, g)), medians.get((other, g))
                if a is None or not b:
                    continue
                r = a / b
                bname = next(n for n in runs if (runs[n]["rec"].extra_info or {}).get("callable") == target
                             and (runs[n]["rec"].group or "") == g)
                metrics.append(Metric("ratio", r, "ratio", labels(benchmark=bname, vs=other, group=g)))
                verdict = "faster" if r < 1 else "slower"
                if r < 1:
                    wins.append(g)
                ratio_rows.append((g, _short(target), _short(other), Quantity(r, "ratio"), verdict))
            notes.append(Note(_winner_note(target, other, groups, wins)))
        tables.append(SummaryTable("ratio of medians (target / comparison; below 1 is faster)",
                                   ("size", "target", "vs", "ratio", "target is"), tuple(ratio_rows)))
    return Result(Status.PASSED, "", tuple(metrics), raw, {"benchmarks": bench_data, "processes": processes},
                  tuple(tables), tuple(notes))


def _sort_key(rec: wire.BenchResult) -> tuple[Any, ...]:
    params = rec.params or {}
    extra = rec.extra_info or {}
    p = extra.get("params") or params
    return (tuple(sorted((k, v if isinstance(v, int | float) else str(v)) for k, v in p.items())), rec.name)


def _short(ref: str) -> str:
    return ref.rpartition(":")[2]


def _winner_note(target: str, other: str, groups: list[str], wins: list[str]) -> str:
    t, o = _short(target), _short(other)
    if not wins:
        return f"{t} does not beat {o} at any size measured ({', '.join(groups)})."
    if len(wins) == len(groups):
        return f"{t} beats {o} at every size measured ({', '.join(groups)})."
    first = groups.index(wins[0])
    if wins == groups[first:]:
        return f"{t} beats {o} from {wins[0]} upwards ({', '.join(wins)})."
    return f"{t} beats {o} only at {', '.join(wins)}."
