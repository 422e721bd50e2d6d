"""The concurrency harness, run inside the child: ``python -m perflab.runners.agents.concurrency_harness CONFIG``.

For every worker kind (threads, processes, asyncio tasks) and every level it runs the target callable from
``level`` workers for ``duration`` seconds (or ``max_calls`` calls), then checks the outcome against a serial
run of the same number of calls (``check = "serial"``) or the profile's invariant callable
(``check = "invariant"``). Records sent on the side channel (field ``k``):

- ``hello``: pid, interpreter, whether it is a free-threaded build and whether the GIL is on;
- ``prepare`` / ``trial_start`` / ``checking``: the parent's watchdog budgets (a deadlock shows as silence);
- ``progress``: calls completed so far in the running trial (threads and asyncio);
- ``trial``: kind, level, calls, elapsed (s), latency sample and percentiles (s), errors, check verdict;
- ``skip``: a kind that cannot run this callable; ``error``: the target could not be loaded.

Imports only the wire format, the standard library and the user's code.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import json
import multiprocessing
import os
import queue
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from perflab.runners.agents import lifeline, wire

LATENCY_SAMPLE = 2000  # latencies kept per trial for the parent (evenly spaced); percentiles use all of them
PROCESS_READY_TIMEOUT = 60.0


def interpreter() -> dict[str, Any]:
    """Is this a free-threaded build, and is the GIL on right now?"""
    free = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    gil = bool(is_enabled()) if is_enabled is not None else True
    return {"python": sys.version.split()[0], "implementation": sys.implementation.name,
            "free_threaded": free, "gil_enabled": gil}


# ------------------------------------------------------------------ calling the target


def _load(cfg: dict[str, Any]) -> tuple[Callable[..., Any], bool, tuple[Any, ...]]:
    fn = wire.resolve(cfg["callable"])
    is_async = inspect.iscoroutinefunction(fn)
    args: tuple[Any, ...] = tuple(cfg.get("args") or ())
    if cfg.get("input"):
        args = (wire.resolve(cfg["input"])(),)
    return fn, is_async, args


def _sync_call(fn: Callable[..., Any], is_async: bool, args: tuple[Any, ...]) -> Callable[[], Any]:
    """A zero-argument callable running one call; async targets get a private event loop per worker."""
    if not is_async:
        return lambda: fn(*args)
    loop = asyncio.new_event_loop()
    return lambda: loop.run_until_complete(fn(*args))


def _setup(cfg: dict[str, Any]) -> None:
    if cfg.get("setup"):
        wire.resolve(cfg["setup"])()


def _percentiles(lat: list[float]) -> dict[str, float]:
    if not lat:
        return {}
    s = sorted(lat)
    n = len(s)

    def q(p: float) -> float:
        pos = (n - 1) * p
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    return {"p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "max": s[-1], "mean": sum(s) / n}


def _thin(values: list[float], keep: int = LATENCY_SAMPLE) -> list[float]:
    if len(values) <= keep:
        return values
    step = len(values) / keep
    return [values[int(i * step)] for i in range(keep)]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def verify(cfg: dict[str, Any], call: Callable[[], Any], results: list[Any], calls: int) -> str | None:
    """None when the concurrent outcome is right; otherwise one line saying what is wrong."""
    mode = cfg["check"]
    if mode == "invariant":
        verdict = wire.resolve(cfg["invariant"])(calls)
        if verdict is None or verdict is True:
            return None
        return "invariant failed" if verdict is False else str(verdict)
    if mode == "serial":
        _setup(cfg)
        serial = collections.Counter(repr(call()) for _ in range(calls))
        got = collections.Counter(repr(r) for r in results)
        if got == serial:
            return None
        missing = serial - got
        extra = got - serial
        parts = []
        if missing:
            parts.append(f"{sum(missing.values()):,} results of the serial run missing (e.g. "
                         + ", ".join(_describe(x) for x in list(missing)[:3]) + ")")
        if extra:
            parts.append(f"{sum(extra.values()):,} unexpected (e.g. "
                         + ", ".join(_describe(x) for x in list(extra)[:3]) + ")")
        return f"results differ from a serial run of the same {calls:,} calls: " + "; ".join(parts)
    return None


class Tally:
    """Per-worker counters and latencies; each worker writes only its own slot (no lock needed)."""

    def __init__(self, workers: int, record: bool) -> None:
        self.calls = [0] * workers
        self.latencies: list[list[float]] = [[] for _ in range(workers)]
        self.results: list[list[Any]] = [[] for _ in range(workers)]
        self.errors = [0] * workers
        self.first_error: str | None = None
        self.record = record

    def merged(self) -> tuple[int, list[float], list[Any], int]:
        lat = [x for part in self.latencies for x in part]
        res = [x for part in self.results for x in part]
        return sum(self.calls), lat, res, sum(self.errors)


def _thread_loop(i: int, call: Callable[[], Any], tally: Tally, go: threading.Event, until: list[float],
                 quota: int) -> None:
    """One worker thread (py-spy's GIL sampling finds worker threads by this function's name)."""
    go.wait()
    deadline = until[0]
    pc = time.perf_counter
    lat = tally.latencies[i]
    res = tally.results[i]
    n = 0
    while n < quota:
        t0 = pc()
        try:
            r = call()
        except Exception as e:
            tally.errors[i] += 1
            if tally.first_error is None:
                tally.first_error = f"{type(e).__name__}: {e}"
            r = e
        t1 = pc()
        lat.append(t1 - t0)
        if tally.record:
            res.append(r)
        n += 1
        tally.calls[i] = n
        if t1 >= deadline:
            break


class Reporter:
    """Sends the running call count twice a second so the parent sees progress (and its absence)."""

    def __init__(self, chan: wire.Channel, tally: Tally) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(chan, tally), daemon=True, name="perflab-report")

    def _run(self, chan: wire.Channel, tally: Tally) -> None:
        while not self._stop.wait(0.5):
            chan.send(wire.TrialProgress(calls=sum(tally.calls)))

    def __enter__(self) -> Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def run_threads(cfg: dict[str, Any], chan: wire.Channel, level: int) -> wire.TrialResult:
    fn, is_async, args = _load(cfg)
    _setup(cfg)
    tally = Tally(level, cfg["check"] == "serial")
    go = threading.Event()
    until = [0.0]
    quota = max(1, cfg["max_calls"] // level)
    threads = [threading.Thread(target=_thread_loop, args=(i, _sync_call(fn, is_async, args), tally, go, until, quota),
                                name=f"perflab-worker-{i}", daemon=True) for i in range(level)]
    for t in threads:
        t.start()
    chan.send(wire.TrialStart(worker="threads", level=level, pid=os.getpid()))
    with Reporter(chan, tally):
        start = time.perf_counter()
        until[0] = start + cfg["duration"]
        go.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    calls, lat, res, errors = tally.merged()
    chan.send(wire.TrialChecking(worker="threads", level=level, calls=calls))
    problem = verify(cfg, _sync_call(fn, is_async, args), res, calls)
    return _trial("threads", level, calls, elapsed, lat, errors, tally.first_error, problem, _blind(cfg, res))


def run_asyncio(cfg: dict[str, Any], chan: wire.Channel, level: int) -> wire.TrialResult:
    fn, is_async, args = _load(cfg)
    _setup(cfg)
    tally = Tally(level, cfg["check"] == "serial")
    quota = max(1, cfg["max_calls"] // level)
    pc = time.perf_counter

    async def worker(i: int, deadline: float) -> None:
        n = 0
        lat, res = tally.latencies[i], tally.results[i]
        while n < quota:
            t0 = pc()
            try:
                r = await fn(*args)
            except Exception as e:
                tally.errors[i] += 1
                if tally.first_error is None:
                    tally.first_error = f"{type(e).__name__}: {e}"
                r = e
            t1 = pc()
            lat.append(t1 - t0)
            if tally.record:
                res.append(r)
            n += 1
            tally.calls[i] = n
            if t1 >= deadline:
                break

    async def main() -> float:
        start = pc()
        await asyncio.gather(*(worker(i, start + cfg["duration"]) for i in range(level)))
        return pc() - start

    chan.send(wire.TrialStart(worker="asyncio", level=level, pid=os.getpid()))
    with Reporter(chan, tally):
        elapsed = asyncio.run(main())
    calls, lat, res, errors = tally.merged()
    chan.send(wire.TrialChecking(worker="asyncio", level=level, calls=calls))
    problem = verify(cfg, _sync_call(fn, is_async, args), res, calls)
    return _trial("asyncio", level, calls, elapsed, lat, errors, tally.first_error, problem, _blind(cfg, res))


def _process_worker(cfg: dict[str, Any], quota: int, ready: Any, go: Any, out: Any) -> None:
    """One worker process: load, set up, wait for the start, run, check its own state, report."""
    lifeline.die_with_parent()  # a worker must not outlive the harness (and so perflab), even on SIGKILL
    try:
        fn, is_async, args = _load(cfg)
        _setup(cfg)
        call = _sync_call(fn, is_async, args)
        tally = Tally(1, cfg["check"] == "serial")
        ready.put(os.getpid())
        go.wait()
        began = time.perf_counter()  # CLOCK_MONOTONIC: one clock for every process of the machine
        until = [began + cfg["duration"]]
        started = threading.Event()
        started.set()
        _thread_loop(0, call, tally, started, until, quota)
        ended = time.perf_counter()
        calls, lat, res, errors = tally.merged()
        problem = verify(cfg, call, res, calls)  # after the timed span, as for threads: the check is not load
        out.put({"calls": calls, "latencies": _thin(lat, 20_000), "errors": errors, "blind": _blind(cfg, res),
                 "first_error": tally.first_error, "problem": problem, "began": began, "ended": ended})
    except BaseException as e:  # the parent must hear about it, whatever it is
        out.put({"fatal": f"{type(e).__name__}: {e}"})
        raise


def _await_ready(procs: list[Any], ready: Any, out: Any) -> None:
    """Wait until every worker process is set up; a worker that dies or fails first is an error, not a hang."""
    waiting = len(procs)
    deadline = time.monotonic() + PROCESS_READY_TIMEOUT
    while waiting:
        try:
            ready.get(timeout=0.2)
            waiting -= 1
            continue
        except queue.Empty:
            pass
        with contextlib.suppress(queue.Empty):
            report = out.get_nowait()
            raise RuntimeError(f"a worker process failed while starting: {report.get('fatal', report)}")
        dead = [p for p in procs if p.exitcode is not None]
        if dead:
            raise RuntimeError(f"a worker process exited while starting (exit code {dead[0].exitcode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker processes not ready after {PROCESS_READY_TIMEOUT:g} s")


def run_processes(cfg: dict[str, Any], chan: wire.Channel, level: int) -> wire.TrialResult:
    # spawn, not fork: the user's module may hold threads or locks a fork would copy half-taken.
    mp = multiprocessing.get_context("spawn")
    ready, out, go = mp.Queue(), mp.Queue(), mp.Event()
    quota = max(1, cfg["max_calls"] // level)
    procs = [mp.Process(target=_process_worker, args=(cfg, quota, ready, go, out), daemon=True)
             for _ in range(level)]
    for p in procs:
        p.start()
    _await_ready(procs, ready, out)
    chan.send(wire.TrialStart(worker="processes", level=level, pid=os.getpid(), workers=[p.pid for p in procs]))
    start = time.perf_counter()
    go.set()
    reports = [out.get() for _ in procs]
    # the span in which the workers called the target, from the first start to the last end: neither their
    # serial checks nor the transfer of their reports count as time under load
    timed = [r for r in reports if "began" in r]
    elapsed = (max(r["ended"] for r in timed) - min(r["began"] for r in timed) if len(timed) == len(reports)
               else time.perf_counter() - start)
    for p in procs:
        p.join(timeout=10)
    fatal = [r["fatal"] for r in reports if "fatal" in r]
    if fatal:
        raise RuntimeError(f"a worker process failed: {fatal[0]}")
    calls = sum(r["calls"] for r in reports)
    lat = [x for r in reports for x in r["latencies"]]
    errors = sum(r["errors"] for r in reports)
    first = next((r["first_error"] for r in reports if r["first_error"]), None)
    problems = [r["problem"] for r in reports if r["problem"]]
    problem = f"{problems[0]} (in {len(problems)} of {level} worker processes)" if problems else None
    return _trial("processes", level, calls, elapsed, lat, errors, first, problem,
                  all(r.get("blind") for r in reports))


def _blind(cfg: dict[str, Any], results: list[Any]) -> bool:
    """A serial comparison of results that are all None (or exceptions) can only catch exceptions."""
    return cfg["check"] == "serial" and all(r is None or isinstance(r, BaseException) for r in results)


def _trial(kind: str, level: int, calls: int, elapsed: float, lat: list[float], errors: int,
           first_error: str | None, problem: str | None, blind: bool = False) -> wire.TrialResult:
    return wire.TrialResult(worker=kind, level=level, calls=calls, elapsed=elapsed, blind_check=blind,
                            throughput=calls / elapsed if elapsed > 0 else 0.0, **_percentiles(lat),
                            latencies=_thin(lat), errors=errors, first_error=first_error, problem=problem)


RUNNERS = {"threads": run_threads, "processes": run_processes, "asyncio": run_asyncio}


def main(config_path: str) -> int:
    with open(config_path, encoding="utf-8") as f:
        cfg = json.load(f)
    chan = wire.channel()
    try:
        _, is_async, _ = _load(cfg)
        for key in ("setup", "invariant"):
            if cfg.get(key):
                wire.resolve(cfg[key])
    except Exception as e:
        chan.send(wire.HarnessError(stage="load", message=f"{type(e).__name__}: {e}"))
        return 2
    chan.send(wire.HarnessHello(pid=os.getpid(), is_async=is_async, **interpreter()))
    for kind in cfg["workers"]:
        if kind == "asyncio" and not is_async:
            chan.send(wire.TrialSkipped(worker=kind, reason="asyncio tasks need an async callable (async def); "
                                                           "this one is synchronous"))
            continue
        for level in cfg["levels"]:
            chan.send(wire.TrialPrepare(worker=kind, level=level))
            try:
                trial = RUNNERS[kind](cfg, chan, level)
            except Exception as e:
                chan.send(wire.HarnessError(stage="trial", worker=kind, level=level,
                                            message=f"{type(e).__name__}: {e}",
                                            traceback=traceback.format_exc()[-4000:]))
                return 3
            chan.send(trial)
    chan.send(wire.Done())
    chan.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except KeyboardInterrupt:  # perflab stops us with SIGINT first: leave quietly, workers are daemons
        sys.exit(130)
