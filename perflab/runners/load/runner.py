"""Load runner on Locust: headless Locust in a subprocess, perflab's plugin streaming HDR histograms.

Targets: a locustfile (any user classes), a ``url`` or a list of ``endpoints`` (perflab generates a
FastHttpUser locustfile, runners/load/locustgen.py). A ``[serve]`` table makes perflab start the server first
(runners/load/server.py) and watch it with the process monitor (role ``server``).

Series (labels: ``endpoint`` = "METHOD name", or "all" for the aggregate): ``load.users`` (count),
``load.rps`` and ``load.failures`` (per second, over the last interval), ``load.latency.p50|p90|p95|p99|max``
(seconds, over the last interval, from HDR histograms), ``load.errors`` (count per interval, label ``kind``),
``load.generator.cpu`` (ratio of one core, label ``process``).
Metrics (aggregate unlabelled, then per endpoint): rps, p50, p90, p95, p99, max (s), error_rate (ratio),
requests, failures (count). Percentiles come from the merged histogram of every request of the run, never
from averaged percentiles.

Invariants: every request a Locust process completed is counted once (workers send a last report when their
users stop, agents/locust_plugin.py); ``--stop-timeout 0`` as in Locust's default: at the end users are
stopped at once, and a request cut short is counted by neither Locust, perflab nor the locustfile. A run
whose failed requests exceed ``test.max_error_rate`` (default 0) fails, as plain Locust exits 1 on any
failure. A run stopped early (the app's stop, Ctrl-C, SIGTERM) lets Locust flush its last interval and
returns what was measured, marked partial.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from hdrh.histogram import HdrHistogram

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
    labels,
)
from perflab.runners.agents import wire
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.process import Child, describe_exit
from perflab.runners.load import locustgen
from perflab.runners.load import server as served
from perflab.runners.load.stats import (
    LoadStats,
    Window,
    add_tick,
    emit_tick,
    percentiles,
)


def plugin_path(name: str = "locust_plugin") -> str:
    """An agent's file, found without importing it (importing it would load locust and gevent here)."""
    spec = importlib.util.find_spec(f"perflab.runners.agents.{name}")
    assert spec is not None and spec.origin
    return spec.origin


LIMIT_MARGIN = 15.0  # s a Locust may outlive the profile's timeout before it stops itself
WORKERS_WAIT = 60  # s the master waits for its workers (--expect-workers-max-wait)
LEVEL_SECONDS = 1.5  # s of steady load a user level needs before it enters the load-limit label (two intervals)


def time_limit(profile: Profile, run_time: float | None) -> float | None:
    """Seconds after which a Locust process stops itself (runners/agents/locust_limit.py), whatever perflab
    does.

    The profile's timeout plus a margin, or, when shorter, the planned run time plus the time Locust may spend
    waiting for workers and stopping; None when neither is known.
    """
    bounds = [profile.timeout + LIMIT_MARGIN] if profile.timeout else []
    if run_time:
        bounds.append(run_time + WORKERS_WAIT + 30.0 + LIMIT_MARGIN)
    return min(bounds) if bounds else None


def target_spec(profile: Profile, host: str | None, *, open_model: dict[str, Any] | None,
                think_time: float, timeout: float) -> dict[str, Any] | None:
    """The generated locustfile's spec for url/endpoints targets (None for a locustfile target)."""
    t = profile.target
    if t.kind == "locustfile":
        return None
    url_host, endpoints = locustgen.endpoints_from_target(t.kind, t.value)
    auth = None
    if t.options.get("auth_env"):
        auth = {"env": t.options["auth_env"], "header": t.options.get("auth_header") or "Authorization",
                "scheme": t.options.get("auth_scheme", "Bearer")}
        locustgen.auth_value(auth)
    chosen = url_host or host
    if not chosen:
        raise PerflabError("target.host: an endpoints target needs a host (or a [serve] server)", ExitCode.BAD_INPUT)
    return {"host": chosen, "endpoints": endpoints, "headers": dict(t.options.get("headers") or {}),
            "auth": auth, "think_time": think_time, "open": open_model, "timeout": timeout}


@dataclass(frozen=True)
class LocustConfig:
    """How one Locust run is started, built once by its runner from the validated profile and its plan.

    Times in seconds; ``cpu_warn`` is a ratio of one core. ``plugin`` is what agents/locust_plugin.py reads
    from ``PERFLAB_LOAD``: ``interval`` (s), ``shape`` (``steps`` or ``control``: then the plugin, not
    ``-u``/``-r``/``-t``, sets the users), ``steps``, ``control``.
    """

    plugin: Mapping[str, Any]
    users: int  # -u (ignored under the plugin's shapes)
    spawn_rate: float  # users started per second (-r)
    duration: float | None  # s of load (-t); None: the plugin's shape decides
    host: str | None = None  # --host
    spec: Mapping[str, Any] | None = None  # a generated locustfile (url/endpoints targets), see target_spec
    workers: int = 0  # local worker processes; 0: one standalone Locust
    remote_workers: int = 0  # workers joining from other machines (perflab worker)
    master_bind: str = "127.0.0.1"
    master_port: int = 0  # 0: a free port
    web_ui: bool = False
    web_port: int = 8089
    cpu_warn: float = 0.85  # a generator above this share of a core for two seconds is reported saturated
    extra_args: tuple[str, ...] = ()  # passed to Locust as given
    limit: float | None = None  # s after which Locust stops itself (see time_limit); None: no limit


class LocustSession:
    """One Locust run (standalone, or a master with workers) whose ticks feed ``stats`` and listeners."""

    def __init__(self, ctx: RunContext, profile: Profile, config: LocustConfig,
                 server: served.Server | None = None) -> None:
        self.ctx, self.profile, self.config, self.server = ctx, profile, config, server
        self.master_port = config.master_port  # the port the master listens on, once chosen
        self.stats = LoadStats()
        self.listeners: list[Callable[[Window], None]] = []
        self.master: Child | None = None
        self.worker_children: list[Child] = []
        self.quit_seen = False
        self.first_load: float | None = None  # monotonic time of the first tick with users
        self.warned: set[int] = set()
        self.worker_notes: list[Note] = []
        opts = profile.target.options
        self.workdir = Path(opts.get("cwd") or ctx.workdir)
        self.env = dict(os.environ)
        self.env.update({k: str(v) for k, v in (opts.get("env") or {}).items()})
        # Without user classes Locust tries pytest-style locustfiles; pytest's auto-loaded plugins (anyio's trio
        # backend) crash under gevent and hide Locust's "No User class found" behind a traceback.
        self.env.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        self.env["PYTHONPATH"] = os.pathsep.join(x for x in (str(self.workdir), self.env.get("PYTHONPATH")) if x)
        self.prefix = ctx.artifacts_dir / "locust"

    def locustfiles(self) -> str:
        if self.config.spec is not None:
            lf = locustgen.generate(self.ctx.artifacts_dir, dict(self.config.spec))
            self.ctx.artifact("locustfile", lf, "generated FastHttpUser locustfile")
        else:
            lf = Path(self.profile.target.value)
            if not lf.is_absolute():
                base = Path(self.profile.path).parent if self.profile.path else self.ctx.workdir
                lf = (base / lf) if (base / lf).exists() else (self.ctx.workdir / lf)
        return f"{lf.resolve()},{plugin_path()},{plugin_path('locust_limit')}"

    def on_record(self, rec: dict[str, Any]) -> None:
        msg = wire.parse(rec, wire.LOAD)
        if isinstance(msg, wire.LocustQuit):
            self.quit_seen = True
            return
        if not isinstance(msg, wire.Tick):
            return
        window = add_tick(self.stats, msg, self.ctx.now())
        if window.users and self.first_load is None:
            self.first_load = time.monotonic()
        emit_tick(self.ctx, msg, window, self.stats)
        for listener in self.listeners:
            listener(window)

    async def start(self) -> None:
        files = self.locustfiles()
        cfg = self.config
        self.env["PERFLAB_LOAD"] = json.dumps(dict(cfg.plugin))
        if cfg.limit:
            self.env["PERFLAB_LOCUST_LIMIT"] = f"{cfg.limit:.0f}"
        argv = [sys.executable, "-m", "locust", "-f", files, "--csv", str(self.prefix), "--csv-full-history",
                "--html", str(self.ctx.artifacts_dir / "locust-report.html"), "--exit-code-on-error", "0",
                "--only-summary", "--stop-timeout", "0"]
        if cfg.web_ui:
            served.check_port_free(cfg.web_port, "127.0.0.1", "test.web_port")
            argv += ["--web-host", "127.0.0.1", "--web-port", str(cfg.web_port), "--autostart", "--autoquit", "0"]
        else:
            argv.append("--headless")
        if cfg.host:
            argv += ["--host", cfg.host]
        if cfg.plugin.get("shape") not in ("steps", "control"):
            argv += ["-u", str(cfg.users), "-r", f"{cfg.spawn_rate:g}"]
            if cfg.duration:
                argv += ["-t", f"{max(1, round(cfg.duration))}s"]
        expected = cfg.workers + cfg.remote_workers
        if expected:
            if cfg.master_port:
                served.check_port_free(cfg.master_port, cfg.master_bind, "test.master_port")
            port = cfg.master_port or served.free_port(cfg.master_bind)
            self.master_port = port
            argv += ["--master", "--master-bind-host", cfg.master_bind, "--master-bind-port", str(port),
                     "--expect-workers", str(expected), "--expect-workers-max-wait", "60"]
        argv += cfg.extra_args
        self.master = await self.ctx.spawn(argv, source="locust", role="generator", cwd=self.workdir,
                                           env=self.env, on_record=self.on_record, monitor=False)
        if cfg.remote_workers:
            self.ctx.notice(f"Locust master waits for {cfg.remote_workers} remote worker(s): run "
                            f"'perflab worker --master HOST:{self.master_port}' on each", Level.INFO,
                            "load.remote_workers")
        for i in range(cfg.workers):
            wargv = [sys.executable, "-m", "locust", "-f", files, "--worker", "--master-host", "127.0.0.1",
                     "--master-port", str(self.master_port)]
            self.worker_children.append(await self.ctx.spawn(
                wargv, source=f"worker-{i + 1}", role="generator", cwd=self.workdir, env=self.env,
                side_channel=False, monitor=False))

    async def supervise(self, deadline: float | None, until: Callable[[], bool] | None = None) -> None:
        """Wait for Locust to exit (or ``until()``), watching the server, the workers and generator CPU."""
        assert self.master is not None
        procs: dict[int, psutil.Process] = {}
        for child in [self.master, *self.worker_children]:
            try:
                procs[child.pid] = psutil.Process(child.pid)
                procs[child.pid].cpu_percent(None)
            except psutil.Error:
                pass
        dead_workers: set[int] = set()
        early: tuple[float, str] | None = None  # a worker died before perflab saw any load
        hot: dict[int, int] = {}
        while self.master.returncode is None:
            if until is not None and until():
                return
            try:
                await asyncio.wait_for(asyncio.shield(self.master.proc.wait()), 1.0)  # type: ignore[union-attr]
            except TimeoutError:
                pass
            if self.master.returncode is not None:
                break
            if self.server is not None and not self.server.alive():
                await self.server.child.wait(timeout=2.0)
                raise ToolError(self.server.died_message())
            for i, w in enumerate(self.worker_children):
                # exit 0 is a worker the master told to quit at the end; anything else crashed
                if w.returncode not in (None, 0) and i not in dead_workers:
                    dead_workers.add(i)
                    msg = f"Locust worker-{i + 1} exited mid-run ({describe_exit(w.returncode)})"
                    if (w.returncode or 0) > 0:
                        msg += f": {_tail(w.stderr_tail)}"
                    alive = len(self.worker_children) - len(dead_workers)
                    self.worker_notes.append(Note(msg, Level.WARNING, "load.worker_died"))
                    if self.first_load is None:
                        early = (time.monotonic(), msg)  # judged below, once the master had time to start
                    if alive == 0 and not self.config.remote_workers:
                        raise ToolError(msg + "; no worker left")
                    self.ctx.notice(f"{msg}; the run continues with {alive} worker(s)", Level.WARNING,
                                    "load.worker_died")
            if early is not None and self.first_load is None and time.monotonic() - early[0] > 5.0:
                # the master would wait up to a minute for a worker that never connected, then run short
                raise ToolError(early[1].replace("mid-run", "before the load started"))
            self._check_cpu(procs, hot)
            if dead_workers and self.config.duration and self.first_load is not None \
                    and time.monotonic() > self.first_load + self.config.duration + 8.0:
                # Locust's master can wait a minute for a dead worker's users to stop: stop it now (SIGINT
                # lets it write its reports and flush the last interval).
                self.ctx.notice("Locust's master is still waiting for a dead worker after the run time; "
                                "stopping it", Level.WARNING, "load.master_stalled")
                await self.master.stop(interrupt_grace=10.0, term_grace=3.0)
                break
            if deadline is not None and time.monotonic() > deadline:
                raise ToolError(f"Locust did not finish within {deadline - self.started:.0f} s of its start")
        await self.master.wait(timeout=10.0)

    def _check_cpu(self, procs: dict[int, psutil.Process], hot: dict[int, int]) -> None:
        for n, (pid, proc) in enumerate(procs.items()):
            try:
                cpu = proc.cpu_percent(None) / 100.0
            except psutil.Error:
                continue
            name = "master" if n == 0 and self.worker_children else ("locust" if n == 0 else f"worker-{n}")
            self.ctx.sample("load.generator.cpu", cpu, process=name)
            hot[pid] = hot.get(pid, 0) + 1 if cpu > self.config.cpu_warn else 0
            if hot[pid] >= 2 and pid not in self.warned:  # two seconds in a row, not one spike
                self.warned.add(pid)
                self.ctx.notice(f"load generator {name} is at {cpu:.0%} CPU: latency figures are no longer "
                                "trustworthy; add workers (test.workers) or lower the load",
                                Level.WARNING, "generator.saturated")

    started: float = 0.0

    async def run(self, until: Callable[[], bool] | None = None) -> int:
        self.started = time.monotonic()
        await self.start()
        slack = 60.0 + (self.config.duration or 0)
        deadline = None if self.config.plugin.get("shape") == "control" else self.started + slack + 30.0
        await self.supervise(deadline, until)
        assert self.master is not None
        return self.master.returncode if self.master.returncode is not None else -1

    def check_exit(self, code: int) -> None:
        """Turn a failed Locust start into one clear line: bad locustfile -> exit 2, anything else -> 3."""
        assert self.master is not None
        requests, _ = self.stats.total()
        if code == 0 and (requests or self.stats.ticks):
            return
        lines = [x.strip() for x in list(self.master.stderr_tail) + list(self.master.stdout_tail) if x.strip()]
        text = "\n".join(lines)
        for needle in ("No User class found", "SyntaxError", "Error", "error:"):
            hit = next((x for x in reversed(lines) if needle in x), None)
            if hit:
                break
        hit = hit or (lines[-1] if lines else "no output")
        hit = re.sub(r"^\[[^\]]*\] [^:]*: ", "", hit)  # Locust's log prefix: [time] host/LEVEL/logger:
        where = self.profile.target.value if self.profile.target.kind == "locustfile" else "generated locustfile"
        if "No User class found" in text or "SyntaxError" in text or "ImportError" in text or \
                "ModuleNotFoundError" in text or "NameError" in text or code == 2:
            raise PerflabError(f"{where}: Locust could not load it: {hit}", ExitCode.BAD_INPUT)
        if code != 0:
            raise ToolError(f"Locust failed ({describe_exit(code)}): {hit}")

    def keep_reports(self) -> None:
        for suffix, what in (("_stats.csv", "Locust statistics"), ("_stats_history.csv", "Locust history"),
                             ("_failures.csv", "Locust failures"), ("_exceptions.csv", "Locust exceptions")):
            path = Path(f"{self.prefix}{suffix}")
            if path.exists():
                self.ctx.artifact("locust-csv", path, what)
        html = self.ctx.artifacts_dir / "locust-report.html"
        if html.exists():
            self.ctx.artifact("locust-html", html, "Locust HTML report")


def _tail(lines: Any) -> str:
    lines = [x.strip() for x in lines if x.strip()]
    return lines[-1] if lines else "no output"


class LoadRunner:
    test_type = "load"

    async def run(self, profile: Profile, ctx: RunContext) -> Result:
        p = profile.test.params
        shape = p["shape"]
        users = int(p["users"])
        duration = float(p["duration"])
        config: dict[str, Any] = {"interval": 1.0}
        open_model = None
        if shape == "steps":
            if not p["steps"]:
                raise PerflabError('test.steps: shape = "steps" needs steps = [[users, duration], ...]')
            config.update(shape="steps", steps=[[u, d] for u, d in p["steps"]], spawn_rate=p.get("spawn_rate"))
            duration = sum(d for _, d in p["steps"])
        elif shape == "arrival_rate":
            if not p.get("rate"):
                raise PerflabError('test.rate: shape = "arrival_rate" needs rate = requests per second')
            if profile.target.kind == "locustfile":
                raise PerflabError('test.shape: "arrival_rate" (open model) needs a url or endpoints target; a '
                                   "locustfile's users decide their own pacing")
            open_model = {"rate": p["rate"], "users": users, "max_in_flight": p["max_in_flight"]}
        spawn_rate = float(p.get("spawn_rate") or (users if shape != "ramp" else max(1.0, users / 10)))
        spec: dict[str, Any] | None = None
        server = await served.start(profile, ctx)
        profiles_ = None
        if server is not None and (p.get("profile_cpu") or p.get("profile_memory")):  # issue 5
            from perflab.runners.load.serverprof import ServerProfiles

            profiles_ = await ServerProfiles(profile, ctx, server.pid).start()
        host = profile.target.options.get("host") or (server.url if server else None)
        if profile.target.kind != "locustfile":
            spec = target_spec(profile, host, open_model=open_model, think_time=float(p["think_time"]),
                               timeout=float(p["request_timeout"]))
            host = spec["host"] if spec else host
        locust = LocustConfig(
            plugin=config, users=users, spawn_rate=spawn_rate, duration=duration, host=host, spec=spec,
            workers=int(p["workers"]), remote_workers=int(p["remote_workers"]), master_bind=p["master_bind"],
            master_port=int(p["master_port"]), web_ui=bool(p["web_ui"]), web_port=int(p["web_port"]),
            cpu_warn=float(p["cpu_warn"]), extra_args=tuple(p["locust_args"]), limit=time_limit(profile, duration))
        session = LocustSession(ctx, profile, locust, server)
        t_start = ctx.now()

        def progress(window: Window) -> None:
            done = min(1.0, (ctx.now() - t_start) / duration) if duration else None
            req, fail = session.stats.total()
            ctx.phase("load", f"{window.users} users, {window.requests / max(window.dt, 1e-9):.0f} req/s, "
                      f"{req:,} requests, {fail:,} failures", done)

        session.listeners.append(progress)
        ctx.phase("load", f"{shape}: {users} users for {duration:g} s" if shape != "arrival_rate"
                  else f"open model: {p['rate']:g} req/s for {duration:g} s", 0.0)
        stopped_early = False
        try:
            try:
                code = await session.run()
            except asyncio.CancelledError:
                stopped_early = True
                code = await _flush_after_stop(session)
            if server is not None and not server.alive() and not stopped_early:
                raise ToolError(server.died_message())
        finally:
            session.keep_reports()
            if profiles_ is not None:
                await profiles_.stop_sampling()
            if server is not None and server.alive():
                await server.stop()
            if profiles_ is not None:
                await profiles_.finish()
        if stopped_early:
            if not session.stats.total()[0]:
                raise asyncio.CancelledError  # nothing was measured: the engine reports the stop alone
            return summarize(profile, session, shape, planned=duration)
        session.check_exit(code)
        result = summarize(profile, session, shape)
        return profiles_.annotate(result) if profiles_ is not None else result


async def _flush_after_stop(session: LocustSession) -> int:
    """The run was cancelled (a stop or an interrupt): SIGINT lets Locust quit as on Ctrl-C, sending its last
    interval on the side channel, so what was measured can still be summarised. Returns Locust's exit code."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()  # this task goes on to return the partial result
    master = session.master
    if master is None:
        return -1
    session.ctx.phase("stop", "stopping Locust (it reports its last interval), then the server")
    if master.returncode is None:  # not yet reaped, so the pid is still this Locust's
        with contextlib.suppress(ProcessLookupError):
            os.kill(master.pid, signal.SIGINT)
    try:
        # wait(), not stop(): it reads the side channel to its end (stop() gives the readers only a second)
        code = await master.wait(timeout=15.0)
    except TimeoutError:  # wait() has stopped the tree (SIGINT, SIGTERM, SIGKILL)
        code = master.returncode if master.returncode is not None else -1
    for worker in session.worker_children:
        await worker.stop(interrupt_grace=2.0, term_grace=2.0)
    return code


def endpoint_metrics(name: str, lbl: tuple[tuple[str, str], ...], h: HdrHistogram, n: int, f: int,
                     elapsed: float) -> list[Metric]:
    pct = percentiles(h)
    out = [Metric("rps", n / elapsed if elapsed else 0.0, "/s", lbl)]
    out += [Metric(k, v, "s", lbl) for k, v in pct.items()]
    out += [Metric("error_rate", f / n if n else 0.0, "ratio", lbl), Metric("requests", n, "count", lbl),
            Metric("failures", f, "count", lbl)]
    return out


def summarize(profile: Profile, session: LocustSession, shape: str, planned: float | None = None) -> Result:
    """The run's result. ``planned`` (s) is set for a run stopped early: its figures are partial, it is not
    judged, and the table and a note say so."""
    stats = session.stats
    partial = planned is not None
    n, f = stats.total()
    if n == 0:
        raise ToolError("Locust ran but no request was made (check the host and the user classes)")
    elapsed = stats.elapsed or 1.0
    agg = stats.merged()
    metrics = endpoint_metrics("all", (), agg, n, f, elapsed)
    rows = [_row("all", agg, n, f, elapsed)]
    for endpoint in sorted(stats.hist):
        c = stats.count[endpoint]
        metrics += endpoint_metrics(endpoint, labels(endpoint=endpoint), stats.hist[endpoint], c[0], c[1], elapsed)
        rows.append(_row(endpoint, stats.hist[endpoint], c[0], c[1], elapsed))
    tables = [SummaryTable(f"{profile.name}: {stats.peak_users} users peak, {elapsed:.0f} s "
                           f"({'open model' if shape == 'arrival_rate' else 'closed model'})"
                           + (" - partial, stopped early" if partial else ""),
                           ("endpoint", "requests", "failures", "error rate", "rps", "p50", "p90", "p95", "p99",
                            "max"), tuple(rows))]
    if stats.errors:
        tables.append(SummaryTable("errors", ("kind", "count"),
                                   tuple((k, int(v)) for k, v in sorted(stats.errors.items(), key=lambda kv: -kv[1]))))
    notes = list(session.worker_notes)
    if partial:
        notes.insert(0, Note(f"Partial: stopped after {elapsed:.0f} s of load"
                             + (f" of {planned:g} s planned" if planned else "")
                             + "; the figures cover the requests completed until then.", Level.WARNING,
                             "load.partial"))
    if shape != "arrival_rate":
        notes.append(Note("Closed model: each user waits for its answer, so a slow server also slows the arrivals; "
                          "latency percentiles under-report queueing (coordinated omission). Use "
                          'shape = "arrival_rate" for an open model.', Level.INFO, "load.model"))
    if session.warned:
        notes.append(Note("A load generator ran above "
                          f"{session.config.cpu_warn:.0%} CPU: latency figures are inflated by the generator "
                          "itself.", Level.WARNING, "generator.saturated"))
    raw = {"p95": (tuple(stats.series_p95),), "rps": (tuple(stats.series_rps),)}
    data = {"requests": n, "failures": f, "elapsed": elapsed, "peak_users": stats.peak_users,
            "errors": dict(stats.errors), "endpoints": sorted(stats.hist), "shape": shape,
            "workers": session.config.workers + session.config.remote_workers,
            "histogram": agg.encode().decode("ascii"), "partial": partial,
            # (users, requests/s, median latency s) per user level held steady for LEVEL_SECONDS at least
            # (stats.py: ramp-up and shutdown intervals belong to no level), for the load-limit label
            "levels": [(u, lv[0] / lv[1], lv[2].get_value_at_percentile(50) / 1e6)
                       for u, lv in sorted(stats.levels.items()) if lv[1] >= LEVEL_SECONDS]}
    status, message = Status.PASSED, ""
    allowed = float(profile.test.params.get("max_error_rate") or 0.0)
    if not partial and n and f / n > allowed:
        status = Status.FAILED
        message = (f"{f:,} of {n:,} requests failed ({units.percent(f / n, 2)}), more than test.max_error_rate "
                   f"allows ({units.percent(allowed, 2)})")
    return Result(status, message, tuple(metrics), raw, data, tuple(tables), tuple(notes))


def _row(name: str, h: HdrHistogram, n: int, f: int, elapsed: float) -> tuple[Cell, ...]:
    pct = percentiles(h)
    return (name, n, f, Quantity(f / n if n else 0.0, "%"), Quantity(n / elapsed, "/s"),
            *(Quantity(pct[k], "s") for k in ("p50", "p90", "p95", "p99", "max")))
