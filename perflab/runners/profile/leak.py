"""Leak runner: call the target repeatedly under tracemalloc and fit the memory growth per iteration.

Targets: a ``module:function`` callable (with ``input``/``args``) or a script (one iteration = one run of its
top level). The child (runners/agents/leak_harness.py) warms up, then after each of N iterations reports
tracemalloc's traced size and the RSS. The growth is the steady-state rate per iteration with a 95 % batch-means
interval (core.leakfit: a cache that fills and stops is judged on the part after it stopped). Growth in the
steady state fails the run unless the profile sets ``allow_growth = true``.

Events: ``leak.traced`` and ``leak.rss`` (bytes, one per iteration, label ``iteration``), phases warmup and
measure with progress, and the ``growing allocation sites`` table. Metrics: ``growth_per_iter`` (B, from
tracemalloc), ``rss_growth_per_iter`` (B), ``iteration_time`` (s, median, taken under tracemalloc: not
comparable, never gated).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from perflab.core import leakfit, units
from perflab.core.model import (
    Level,
    Metric,
    Note,
    Profile,
    Quantity,
    Result,
    Status,
    SummaryTable,
    ToolError,
    labels,
)
from perflab.runners.agents import wire
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.child import child_env, short_path, target_config
from perflab.runners.framework.process import describe_exit

HARNESS = "perflab.runners.agents.leak_harness"
SITE_COLUMNS = ("site", "grew by", "blocks", "now")


class LeakRunner:
    test_type = "leak"

    async def run(self, profile: Profile, ctx: RunContext) -> Result:
        p = profile.test.params
        workdir = Path(profile.target.options.get("cwd") or ctx.workdir)
        warmup, iterations = int(p["warmup"]), int(p["iterations"])
        config = {**target_config(profile, ctx), "warmup": warmup, "iterations": iterations,
                  "top": int(p["top"]), "frames": 1}
        traced: list[float] = []
        rss: list[float] = []
        times: list[float] = []
        sites: list[dict[str, Any]] = []

        def on_record(rec: dict[str, Any]) -> None:
            msg = wire.parse(rec, wire.LEAK)
            if isinstance(msg, wire.LeakIteration):
                i = int(msg.i)
                traced.append(float(msg.traced))
                rss.append(float(msg.rss))
                times.append(float(msg.s))
                lb = labels(iteration=i)
                ctx.sample("leak.traced", msg.traced, lb)
                ctx.sample("leak.rss", msg.rss, lb)
                if i % max(1, iterations // 50) == 0 or i == iterations - 1:
                    ctx.phase("measure", f"iteration {i + 1} of {iterations}", (i + 1) / iterations)
            elif isinstance(msg, wire.Phase):
                ctx.phase(msg.name, msg.detail, 0.0 if msg.name == "warmup" else None)
            elif isinstance(msg, wire.LeakSites):
                sites.extend(msg.sites)

        argv = [sys.executable, "-m", HARNESS, json.dumps(config)]
        env = child_env(workdir, profile.target.options.get("env") or {})
        child = await ctx.spawn(argv, source="target", cwd=workdir, env=env, on_record=on_record)
        code = await child.wait()
        if code != 0 or len(traced) < iterations:
            tail = next((x.strip() for x in reversed(child.stderr_tail) if x.strip()), "no output")
            raise ToolError(f"the leak target failed ({describe_exit(code)}) after {len(traced)} of "
                            f"{iterations} iterations: {tail}")
        return summarize(profile, traced, rss, times, sites, float(p["min_growth"]), warmup=warmup,
                         allow_growth=bool(p.get("allow_growth")))


def summarize(profile: Profile, traced: list[float], rss: list[float], times: list[float],
              sites: list[dict[str, Any]], min_growth: float, *, warmup: int = 0,
              allow_growth: bool = False) -> Result:
    g = leakfit.fit(traced, min_growth=min_growth, offset=warmup)
    # RSS moves in pages and allocator arenas: same fit, a larger floor before calling it growth
    r = leakfit.fit(rss, min_growth=max(min_growth, 1024.0), offset=warmup)
    median_time = sorted(times)[len(times) // 2] if times else 0.0
    metrics = (
        Metric("growth_per_iter", g.slope, "B"),
        Metric("growth_per_iter_low", g.low, "B"),
        Metric("growth_per_iter_high", g.high, "B"),
        Metric("rss_growth_per_iter", r.slope, "B"),
        Metric("iteration_time", median_time, "s", comparable=False),
    )
    # the harness and tracemalloc itself allocate a little (regex caches, json): list only material sites
    own = sum(s["size"] for s in sites if s.get("perflab"))
    sites = [s for s in sites if not s.get("perflab")]
    floor = max(1024.0, 0.01 * sum(max(s["size"], 0) for s in sites))
    sites = [s for s in sites if s["size"] >= floor]
    rows = tuple((_where(s, profile), Quantity(s["size"], "B"), int(s["count"]), Quantity(s["total"], "B"))
                 for s in sites)
    fit_rows = tuple((name, Quantity(f.slope, "B"), Quantity(f.low, "B"), Quantity(f.high, "B"), f.label())
                     for name, f in (("tracemalloc (Python heap)", g), ("RSS", r)))
    steady = f"iterations {warmup + g.start + 1:,} to {warmup + g.total:,}" if g.start else f"{g.n} iterations"
    tables = [SummaryTable(f"{profile.name}: growth per iteration in the steady state ({steady}, mean "
                           f"increment, 95 % batch-means CI)",
                           ("measure", "slope", "CI low", "CI high", "verdict"), fit_rows)]
    if sites and g.grows:
        tables.append(SummaryTable("top growing allocation sites (tracemalloc, after warm-up to end)",
                                   SITE_COLUMNS, rows))
    notes = [Note(f"{profile.target.value}: {g.verdict()}", Level.WARNING if g.grows else Level.INFO,
                  "leak.growth")]
    if g.grows and sites:
        top = sites[0]
        notes.append(Note(f"largest growth at {_where(top, profile)} "
                          f"(+{units.size(top['size'])} over {g.total} iterations)", Level.INFO, "leak.site"))
    if own >= 1024:
        notes.append(Note(f"perflab's own harness lines grew by {units.size(own)}: not counted among the sites",
                          Level.INFO, "leak.site"))
    if g.filled:
        notes.append(Note(f"memory grew {units.size(g.before)} per iteration until iteration "
                          f"{warmup + g.start + 1:,}, then stayed flat: a bounded cache or pool filling up, judged "
                          "on the flat part", Level.INFO, "leak.growth"))
    failed = g.grows and not allow_growth
    if g.grows:
        notes.append(Note("growth in the steady state fails the run (allow_growth = true reports it without failing)"
                          if failed else "growth allowed by the profile (allow_growth = true)",
                          Level.ERROR if failed else Level.WARNING, "leak.growth"))
    notes.append(Note("iteration times were taken under tracemalloc: not comparable, never gated", Level.INFO,
                      "not_comparable"))
    data = {"growth": g.__dict__ | {"grows": g.grows, "verdict": g.verdict()},
            "rss_growth": r.__dict__ | {"grows": r.grows, "verdict": r.verdict()},
            "traced": traced, "rss": rss, "sites": sites, "perflab_growth": own}
    return Result(Status.FAILED if failed else Status.PASSED, g.verdict(), metrics, {}, data,
                  tuple(tables), tuple(notes))


def _where(site: dict[str, Any], profile: Profile) -> str:
    if site["file"] == "(target)":  # allocated by C code the harness called directly: no Python line of its own
        return f"{profile.target.value} (C code, no Python line)"
    return f"{short_path(site['file'])}:{site['line']}"
