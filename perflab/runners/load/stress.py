"""Stress runner: raise the load step by step until a service level objective breaks, refine by bisection,
measure recovery.

One Locust process (or master + workers) runs for the whole search with perflab's ``control`` load shape:
perflab writes the wanted user count to a control file, the plugin's LoadTestShape reads it every second, so
the server sees one continuous test (recovery is measured right after a real overload, not after a restart).

Each step: set the users, wait until Locust reports them plus ``settle`` seconds, then merge the HDR histograms
of ``step_duration`` seconds of intervals and judge the objectives (``p95 < 500ms``, ``error_rate < 1%``, ...).
Steps go up by ``step_users`` until one breaks (or ``max_users``); then the load drops to a load known to pass
(``recovery_users`` if it is at most the highest load measured within the objectives, else that load) and the
recovery time is the time until one interval meets the objectives again; then ``refine`` bisection steps
between the last good and the first bad load narrow the breaking point.

Verdicts: objectives that break at the first step (the lowest load) fail the run: there is no breaking point
to report, and nothing to recover to. A knee of the median latency curve is reported only when a bent line
fits the steps significantly better than a straight one (runners/load/knee.py), with that evidence.

``load = "arrival_rate"`` (url/endpoints targets) steps the open model's arrival rate instead of the users:
``start_rate``, ``step_rate``, ``max_rate``, ``recovery_rate`` in requests/s, sent by ``arrival_users``
scheduling users; latency then includes queueing (no coordinated omission).

Series: ``stress.users`` (count) or ``stress.rate`` (/s), ``stress.p95`` (s), ``stress.error_rate`` (ratio), ``stress.rps`` (/s), one
point per measured step at the same time stamp, so a chart can pair load with p95 and error rate; plus the
load test's own ``load.*`` series. Metrics: breaking_point and knee (users or requests/s), recovery_time (s), and at the
breaking point p95 (s), error_rate (ratio), rps (/s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import operator
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from perflab.core import units
from perflab.core.model import (
    Cell,
    ExitCode,
    Level,
    Metric,
    Note,
    PerflabError,
    Profile,
    Quantity,
    Result,
    Status,
    SummaryTable,
    ToolError,
)
from perflab.runners.framework.base import RunContext
from perflab.runners.load import server as served
from perflab.runners.load.knee import find_knee
from perflab.runners.load.runner import LocustConfig, LocustSession, target_spec, time_limit
from perflab.runners.load.stats import Window, new_histogram, percentiles

OPS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                                  ">=": operator.ge}
_SLO = re.compile(r"^\s*(p50|p90|p95|p99|max|error_rate|rps)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*"
                  r"(ns|us|µs|ms|s|%|/s)?\s*$")
_SCALE = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "%": 0.01, "/s": 1.0, None: 1.0}


@dataclass(frozen=True)
class Objective:
    metric: str
    op: str
    limit: float  # SI units: s, ratio, /s
    text: str

    def holds(self, values: dict[str, float]) -> bool:
        return OPS[self.op](values[self.metric], self.limit)


def parse_slo(items: list[str]) -> list[Objective]:
    out = []
    for i, text in enumerate(items):
        m = _SLO.match(text)
        if not m:
            raise PerflabError(f'test.slo[{i}]: cannot read "{text}" (expected e.g. "p95 < 500ms", '
                               '"error_rate < 1%", "rps >= 100")', ExitCode.BAD_INPUT)
        metric, op, number, unit = m.groups()
        if metric.startswith("p") or metric == "max":
            unit = unit or "s"
            if unit not in ("ns", "us", "µs", "ms", "s"):
                raise PerflabError(f'test.slo[{i}]: {metric} takes a duration unit, got "{unit}"')
        out.append(Objective(metric, op, float(number) * _SCALE[unit], text.strip()))
    if not out:
        raise PerflabError("test.slo: at least one objective is needed")
    return out


@dataclass(frozen=True)
class Mode:
    """What the search steps: users (closed model) or arrival rate (open model)."""

    name: str  # users | arrival_rate
    unit: str  # shown after a load value: "users" or "req/s"
    series: str  # stress.users | stress.rate
    metric_unit: str  # count | /s
    sched_users: int = 0  # arrival_rate: users that schedule the arrivals

    def show(self, load: float) -> str:
        return f"{load:g} {self.unit}"


USERS = Mode("users", "users", "stress.users", "count")


@dataclass
class Step:
    users: float  # the load: users, or requests/s in arrival_rate mode
    values: dict[str, float]  # p50..max (s), error_rate, rps, requests
    ok: bool
    broken: list[str]
    errors: dict[str, int]
    phase: str  # step | bisect


@dataclass
class Search:
    steps: list[Step] = field(default_factory=list)
    recovery_time: float | None = None
    recovery_from: float | None = None
    recovery_load: float | None = None  # the load recovery was measured at: one measured within the objectives


def measure_windows(windows: list[Window]) -> tuple[dict[str, float], dict[str, int]]:
    h = new_histogram()
    n = f = 0
    dt = 0.0
    errors: dict[str, int] = {}
    for w in windows:
        h.add(w.hist)
        n += w.requests
        f += w.failures
        dt += w.dt
        for k, v in w.errors.items():
            errors[k] = errors.get(k, 0) + v
    values = percentiles(h)
    values.update(error_rate=f / n if n else 1.0, rps=n / dt if dt else 0.0, requests=float(n))
    return values, errors


def failure_mode(step: Step) -> str:
    """latency, errors (HTTP 5xx ...), timeouts or connection refusals: what broke first at this load."""
    if step.errors and step.values.get("error_rate", 0) > 0:
        kind, _ = max(step.errors.items(), key=lambda kv: kv[1])
        if kind == "connection refused":
            return "connection refusals"
        if kind == "timeout":
            return "timeouts"
        if any(b.startswith("error_rate") for b in step.broken):
            return f"errors ({kind})"
    return "latency" if step.broken else "none"


class StressRunner:
    test_type = "stress"

    async def run(self, profile: Profile, ctx: RunContext) -> Result:
        p = profile.test.params
        objectives = parse_slo(list(p["slo"]))
        if p["load"] == "arrival_rate":
            if profile.target.kind == "locustfile":
                raise PerflabError('test.load: "arrival_rate" (open model) needs a url or endpoints target')
            mode = Mode("arrival_rate", "req/s", "stress.rate", "/s", int(p["arrival_users"]))
            start, step, top = float(p["start_rate"]), float(p["step_rate"]), float(p["max_rate"])
            recovery = float(p.get("recovery_rate") or start)
            what = "rate"
        else:
            mode = USERS
            start, step, top = int(p["start_users"]), int(p["step_users"]), int(p["max_users"])
            recovery = int(p.get("recovery_users") or start)
            what = "users"
        if start > top:
            raise PerflabError(f"test.start_{what}: larger than test.max_{what}")
        control = ctx.artifacts_dir / "control.json"
        ctx.artifacts_dir.mkdir(parents=True, exist_ok=True)
        _write(control, {"users": 0})
        server = await served.start(profile, ctx)
        host = profile.target.options.get("host") or (server.url if server else None)
        spec = None
        if profile.target.kind != "locustfile":
            open_model = None
            if mode.sched_users:
                open_model = {"rate": start, "users": mode.sched_users, "max_in_flight": p["max_in_flight"],
                              "control": str(control)}
            spec = target_spec(profile, host, open_model=open_model, think_time=float(p["think_time"]),
                               timeout=float(p["request_timeout"]))
            host = spec["host"] if spec else host
        locust = LocustConfig(
            plugin={"interval": 1.0, "shape": "control", "control": str(control)}, users=0, spawn_rate=1.0,
            duration=None, host=host, spec=spec, workers=int(p["workers"]), cpu_warn=float(p["cpu_warn"]),
            extra_args=tuple(p["locust_args"]), limit=time_limit(profile, plan_seconds(p, start, step, top)))
        session = LocustSession(ctx, profile, locust, server)
        windows: list[Window] = []
        session.listeners.append(windows.append)
        task = asyncio.create_task(session.run())
        search = Search()
        cancelled = False  # stopped (the app's stop, Ctrl-C): the steps measured so far are the result
        try:
            prober = Prober(ctx, session, task, windows, control, objectives, p, mode, top, recovery)
            await prober.search(start, step, top, search)
        except asyncio.CancelledError:
            cancelled = True
            ctx.phase("stop", "stopping Locust, then the server")
            me = asyncio.current_task()
            if me is not None:
                me.uncancel()  # this task goes on to stop Locust, then the server, and to summarise
        finally:
            _write(control, {"stop": True})
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), 15.0)
            if not task.done():
                task.cancel()
                if session.master is not None:
                    await session.master.stop()
            session.keep_reports()
            if server is not None and server.alive():
                await server.stop()
        if cancelled:
            if not search.steps:
                raise asyncio.CancelledError  # nothing was measured: the engine reports the stop alone
            highest = max(st.users for st in search.steps)
            result = summarize(profile, search, objectives, highest, mode)
            note = Note(f"Partial: stopped after {len(search.steps)} measured step(s), the highest at "
                        f"{mode.show(highest)}; the search did not finish, so a breaking point found is at most a "
                        "lower bound.", Level.WARNING, "run.partial")
            notes = [n for n in result.notes if not (n.kind == "stress.breaking_point"
                                                      and result.data.get("first_break") is None)]
            return replace(result, data={**result.data, "partial": True}, notes=(note, *notes))
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        return summarize(profile, search, objectives, top, mode)


REACH_TIMEOUT = 60.0  # s for Locust to report the users a step asks for


def plan_seconds(p: Any, start: float, step: float, top: float) -> float:
    """The longest the search can take (s): every step up to the top and every bisection step at its worst
    (REACH_TIMEOUT to reach its load, then settle and measure), plus the recovery."""
    steps = int((top - start) // step) + 1 if step > 0 else 1
    per_step = REACH_TIMEOUT + float(p["settle"]) + float(p["step_duration"]) + 2.0
    return (steps + int(p["refine"])) * per_step + float(p["recovery_timeout"]) + REACH_TIMEOUT


class Prober:
    """Sets loads and judges them against the objectives, watching the Locust session as it goes."""

    def __init__(self, ctx: RunContext, session: LocustSession, task: asyncio.Task[int], windows: list[Window],
                 control: Path, objectives: list[Objective], p: Any, mode: Mode, top: float,
                 recovery: float) -> None:
        self.ctx, self.session, self.task, self.windows = ctx, session, task, windows
        self.control, self.objectives, self.mode, self.top = control, objectives, mode, top
        self.settle = float(p["settle"])
        self.step_duration = float(p["step_duration"])
        self.refine = int(p["refine"])
        self.recovery_load = recovery
        self.recovery_timeout = float(p["recovery_timeout"])

    async def _tick(self) -> None:
        """Sleep a little; surface a dead Locust or server at once."""
        if self.task.done():
            exc = self.task.exception()
            if exc is not None:
                raise exc
            raise ToolError("Locust stopped before the stress search finished: "
                            + (self.session.master.stderr_tail[-1] if self.session.master
                               and self.session.master.stderr_tail else "no output"))
        await asyncio.sleep(0.2)

    def _want(self, load: float, spawn: float) -> dict[str, Any]:
        if self.mode.sched_users:
            return {"users": self.mode.sched_users, "spawn_rate": self.mode.sched_users, "rate": load}
        return {"users": int(load), "spawn_rate": max(spawn, 1)}

    async def set_load(self, load: float) -> float:
        _write(self.control, self._want(load, load))
        users = self.mode.sched_users or int(load)
        t0 = self.ctx.now()
        deadline = time.monotonic() + REACH_TIMEOUT
        while not (self.windows and self.windows[-1].users == users and self.windows[-1].t > t0):
            if time.monotonic() > deadline:
                raise ToolError(f"Locust did not reach {users} users within {REACH_TIMEOUT:g} s")
            await self._tick()
        return self.ctx.now()

    def _forget(self) -> None:
        # Each window holds a decoded histogram (~200 KB): keep only what the current step can still use.
        del self.windows[:-1]

    async def measure(self, load: float, phase: str, search: Search) -> Step:
        self._forget()
        self.ctx.phase(phase, self.mode.show(load), min(1.0, load / self.top))
        reached = await self.set_load(load)
        begin = reached + self.settle
        end = begin + self.step_duration
        while self.ctx.now() < end + 0.05 or not self.windows or self.windows[-1].t < end:
            await self._tick()
        chosen = [w for w in self.windows if begin < w.t <= end + 1.0 and w.dt >= 0.3]
        values, errors = measure_windows(chosen)
        broken = [o.text for o in self.objectives if not o.holds(values)]
        step = Step(load, values, not broken, broken, errors, phase)
        search.steps.append(step)
        for series, key in ((self.mode.series, None), ("stress.p95", "p95"), ("stress.error_rate", "error_rate"),
                            ("stress.rps", "rps")):
            self.ctx.sample(series, load if key is None else values[key])
        self.ctx.table("stress.curve", (self.mode.unit, "p95", "error rate", "rps", "objectives"),
                       [_curve_row(s) for s in sorted(search.steps, key=lambda s: s.users)])
        self.ctx.log(f"{phase} {self.mode.show(load)}: p95 {units.duration(values['p95'])}, errors "
                     f"{values['error_rate']:.2%}, {values['rps']:.0f} req/s: "
                     + ("within objectives" if step.ok else "broke " + ", ".join(broken)), source="perflab")
        return step

    async def recovery(self, search: Search, overload: float, known_good: float) -> None:
        """Drop right after an overload to a load known to pass (``recovery_users``/``recovery_rate`` when it
        is at most ``known_good``, the highest load measured within the objectives; else ``known_good``);
        time until one interval meets the objectives again."""
        load = self.recovery_load if 0 < self.recovery_load <= known_good else known_good
        self.ctx.phase("recovery", f"back to {self.mode.show(load)} after {self.mode.show(overload)}")
        dropped = self.ctx.now()
        _write(self.control, self._want(load, overload))
        search.recovery_from, search.recovery_load = overload, load
        self._forget()
        seen = len(self.windows)
        while self.ctx.now() - dropped < self.recovery_timeout:
            await self._tick()
            for w in self.windows[seen:]:
                seen += 1
                if w.dt < 0.3 or not w.requests:
                    continue
                values, _ = measure_windows([w])
                if all(o.holds(values) for o in self.objectives):
                    search.recovery_time = max(0.0, w.t - dropped)
                    return

    async def search(self, start: float, step: float, top: float, search: Search) -> None:
        load, last_good, first_bad = start, 0.0, None
        while load <= top + 1e-9:
            s = await self.measure(load, "step", search)
            if not s.ok:
                first_bad = load
                break
            last_good = load
            load += step
        if first_bad is None or last_good <= 0:
            return  # no break, or a break at the lowest load: no load is known to pass, nothing to refine
        await self.recovery(search, first_bad, last_good)
        lo, hi = last_good, first_bad
        resolution = 1.0 if not self.mode.sched_users else max(step / 8, 0.5)
        for _ in range(self.refine):
            if hi - lo <= resolution:
                break
            mid = (lo + hi) / 2
            mid = float(int(mid)) if not self.mode.sched_users else round(mid, 1)
            if mid <= 0 or mid in (lo, hi):
                break
            s = await self.measure(mid, "bisect", search)
            lo, hi = (mid, hi) if s.ok else (lo, mid)


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)  # atomic: the plugin never reads half a file


def _curve_row(s: Step) -> tuple[Cell, ...]:
    return (_num(s.users), Quantity(s.values["p95"], "s"), Quantity(s.values["error_rate"], "%"),
            Quantity(s.values["rps"], "/s"), "ok" if s.ok else "broke: " + ", ".join(s.broken))


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def summarize(profile: Profile, search: Search, objectives: list[Objective], top: float,
              mode: Mode = USERS) -> Result:
    if not search.steps:
        raise ToolError("the stress search measured no step")
    by_load = sorted(search.steps, key=lambda s: s.users)
    good = [s for s in by_load if s.ok]
    bad = [s for s in by_load if not s.ok]
    # highest load within the objectives that is below every load that broke them
    first_bad = bad[0].users if bad else None
    good_below = [s for s in good if first_bad is None or s.users < first_bad]
    bp = good_below[-1] if good_below else None
    broke_at_start = not search.steps[0].ok  # the first step is the lowest load
    if broke_at_start:
        bp = None
    fit = find_knee([(s.users, s.values["p50"]) for s in by_load if s.values.get("requests")])
    kn = fit.at if fit is not None else None
    how = failure_mode(bad[0]) if bad else "none"
    metrics: list[Metric] = []
    if bp is not None:
        metrics += [Metric("breaking_point", bp.users, mode.metric_unit), Metric("p95", bp.values["p95"], "s"),
                    Metric("error_rate", bp.values["error_rate"], "ratio"), Metric("rps", bp.values["rps"], "/s")]
    if kn is not None:
        metrics.append(Metric("knee", kn, mode.metric_unit))
    if search.recovery_time is not None:
        metrics.append(Metric("recovery_time", search.recovery_time, "s"))
    objective_text = ", ".join(o.text for o in objectives)
    limit = "test.max_users" if mode is USERS else "test.max_rate"
    status, message = Status.PASSED, ""
    if broke_at_start:
        lowest = search.steps[0]
        status = Status.FAILED
        message = f"the objective fails at the lowest load ({mode.show(lowest.users)}): {', '.join(lowest.broken)}"
        message_bp = (f"the objectives ({objective_text}) already fail at the lowest load, "
                      f"{mode.show(lowest.users)}, by {failure_mode(lowest)}: no breaking point (lower "
                      f"test.start_{'users' if mode is USERS else 'rate'} to find one)")
    elif bp is None or first_bad is None:
        message_bp = f"the objectives ({objective_text}) held up to {mode.show(top)} ({limit}): no break"
    else:
        message_bp = (f"breaking point: {mode.show(bp.users)} ({units.rate(bp.values['rps'])} within "
                      f"{objective_text}); broke at {mode.show(first_bad)} by {how}")
    notes = [Note(message_bp, Level.INFO, "stress.breaking_point")]
    if fit is not None:
        notes.append(Note(f"knee of the median latency curve at {mode.show(fit.at)}: "
                          + fit.describe(mode.unit.rstrip("s") if mode is USERS else mode.unit),
                          Level.INFO, "stress.knee"))
    if search.recovery_from is not None and search.recovery_load is not None:
        recovered = search.recovery_time is not None
        notes.append(Note(f"recovery from {mode.show(search.recovery_from)} to {mode.show(search.recovery_load)} "
                          "(a load measured within the objectives): "
                          + (f"{units.duration(search.recovery_time)} until the objectives held again"
                             if recovered else "did not recover within test.recovery_timeout"),
                          Level.INFO if recovered else Level.WARNING, "stress.recovery"))
    rows = tuple(_curve_row(s) for s in by_load)
    title = f"{profile.name}: load vs latency and errors" + ("" if mode is USERS else " (open model)")
    tables = (SummaryTable(title, (mode.unit, "p95", "error rate", "rps", "objectives"), rows),)
    key = "users" if mode is USERS else "rate"
    curve = [{key: _num(s.users), **{k: s.values[k] for k in ("p50", "p90", "p95", "p99", "max", "error_rate", "rps")},
              "requests": int(s.values["requests"]), "ok": s.ok, "broken": s.broken, "errors": s.errors,
              "phase": s.phase} for s in by_load]
    data = {"mode": mode.name, "curve": curve, "breaking_point": _num(bp.users) if bp else None,
            "first_break": _num(first_bad) if first_bad is not None else None,
            "knee": _num(kn) if kn is not None else None, "failure_mode": how,
            "knee_fit": None if fit is None else {"f": fit.f, "p": fit.p, "slope_below": fit.slope_below,
                                                  "slope_above": fit.slope_above, "steps": fit.n},
            "broke_at_lowest": broke_at_start,
            "recovery_time": search.recovery_time,
            "recovery_from": _num(search.recovery_from) if search.recovery_from is not None else None,
            "recovery_load": _num(search.recovery_load) if search.recovery_load is not None else None,
            "objectives": [o.text for o in objectives]}
    raw = {"p95": (tuple(s.values["p95"] for s in by_load),)}
    return Result(status, message, tuple(metrics), raw, data, tables, tuple(notes))
