"""perflab's Locust plugin, loaded as an extra locustfile next to the user's (``-f user.py,locust_plugin.py``).

It runs inside the Locust process (standalone, master or worker) and imports only the wire format, locust,
gevent and hdrhistogram. Every request's response time goes into an HDR histogram per endpoint
(microseconds, 3 significant digits: <= 0.1 % relative error, Locust's own buckets round to ~5 %).

- standalone / master: once per ``interval`` seconds it sends a ``tick`` record on the side channel with the
  user count, the interval length, and per endpoint the requests, failures, percentiles of the interval and
  the interval's histogram (HDR-encoded, so the parent can merge intervals and processes exactly), plus the
  error kinds seen. A final tick is sent when the test stops.
- worker: it adds its interval histograms to Locust's report to the master (every second instead of every
  3 s), and sends one last report when its users have stopped, so every request a worker completed reaches
  the master; the master decodes and adds them. Percentiles are never averaged across processes.

Configuration comes from ``PERFLAB_LOAD`` (JSON): ``interval`` (s), ``shape`` (``steps`` or ``control``),
``steps`` ([users, seconds] pairs), ``control`` (a file the parent rewrites with the wanted user count),
``raw`` (a file to append every raw response time to, for the accuracy benchmark).
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import gevent
import locust.runners
from hdrh.histogram import HdrHistogram
from locust import LoadTestShape, events

from perflab.runners.agents import wire

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped
DIGITS = 3
PERCENTILES = (50.0, 90.0, 95.0, 99.0)
CONFIG: dict[str, Any] = json.loads(os.environ.get("PERFLAB_LOAD") or "{}")
INTERVAL = float(CONFIG.get("interval", 1.0))

# A worker reports to the master every WORKER_REPORT_INTERVAL (3 s by default); perflab streams every second.
locust.runners.WORKER_REPORT_INTERVAL = min(locust.runners.WORKER_REPORT_INTERVAL, INTERVAL)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


class Window:
    """Requests recorded since the last report: per endpoint a histogram and counts, plus error kinds."""

    def __init__(self) -> None:
        self.hist: dict[str, HdrHistogram] = {}
        self.count: dict[str, list[int]] = {}  # endpoint -> [requests, failures]
        self.errors: dict[str, int] = {}

    def record(self, endpoint: str, us: int | None, error: str | None) -> None:
        """``us`` None: a request that never started (open model, in-flight limit): counted, not timed."""
        h = self.hist.get(endpoint)
        if h is None:
            h = self.hist[endpoint] = new_histogram()
            self.count[endpoint] = [0, 0]
        if us is not None:
            h.record_value(min(max(us, LOWEST_US), HIGHEST_US))
        c = self.count[endpoint]
        c[0] += 1
        if error is not None:
            c[1] += 1
            self.errors[error] = self.errors.get(error, 0) + 1

    def add_encoded(self, data: dict[str, Any]) -> None:
        for endpoint, rec in data.get("endpoints", {}).items():
            h = self.hist.get(endpoint)
            if h is None:
                h = self.hist[endpoint] = new_histogram()
                self.count[endpoint] = [0, 0]
            h.decode_and_add(rec["h"])
            self.count[endpoint][0] += int(rec["n"])
            self.count[endpoint][1] += int(rec["f"])
        for kind, n in data.get("errors", {}).items():
            self.errors[kind] = self.errors.get(kind, 0) + int(n)

    def encode(self, with_percentiles: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for endpoint, h in self.hist.items():
            n, f = self.count[endpoint]
            rec: dict[str, Any] = {"n": n, "f": f, "h": h.encode().decode("ascii")}
            if with_percentiles and h.get_total_count() > 0:
                pct = h.get_percentile_to_value_dict(list(PERCENTILES))
                rec["p"] = {f"p{int(k)}": pct[k] / 1e6 for k in PERCENTILES}  # seconds
                rec["p"]["max"] = h.get_max_value() / 1e6
            out[endpoint] = rec
        return {"endpoints": out, "errors": dict(self.errors)}


_window = Window()
# Every raw response time (µs, unrounded), one per line: the accuracy benchmark computes exact percentiles.
_RAW = CONFIG.get("raw") or os.environ.get("PERFLAB_RAW_TIMES")
_raw_file = open(_RAW, "a", buffering=1 << 16) if _RAW else None  # noqa: SIM115
_HTTP_CODE = re.compile(r"(?:code=|status(?: code)?[:= ]+|HTTP(?:Error)?[: ]+|^)([1-5]\d\d)\b", re.I)


def error_kind(exc: BaseException) -> str:
    """A short, stable name for a failure: ``HTTP 500``, ``connection refused``, ``timeout``, ..."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if "timeout" in low or "timed out" in low:
        return "timeout"
    if "reset by peer" in low or "connectionreset" in low:
        return "connection reset"
    for candidate in (repr(exc), str(exc)):
        m = _HTTP_CODE.search(candidate)
        if m:
            return f"HTTP {m.group(1)}"
    return text[:80]


@events.request.add_listener
def on_request(request_type: str, name: str, response_time: float, response_length: int,
               exception: BaseException | None = None, context: dict[str, Any] | None = None,
               **_: Any) -> None:
    if (context or {}).get("perflab_dropped"):
        _window.record(f"{request_type} {name}", None, "dropped (in-flight limit)")
        return
    exact = (response_time or 0.0) * 1000.0  # µs
    intended = (context or {}).get("perflab_intended")
    if intended:
        # Open model: latency counts from when the request was due, so queueing in the generator is not hidden
        # (coordinated omission).
        exact = max(exact, (time.time() - float(intended)) * 1e6)
    _window.record(f"{request_type} {name}", int(round(exact)),
                   error_kind(exception) if exception is not None else None)
    if _raw_file is not None:
        _raw_file.write(f"{exact:.3f}\n")


def _reset() -> dict[str, Any]:
    global _window
    window, _window = _window, Window()
    return window.encode(with_percentiles=False)


def _tick(environment: Any, last: list[float]) -> None:
    global _window, _from_workers
    now = time.monotonic()
    if _is_master(environment):
        window, _from_workers = _from_workers, Window()
    else:
        window, _window = _window, Window()
    data = window.encode(with_percentiles=True)
    runner = environment.runner
    dt = now - last[0]
    last[0] = now
    wire.channel().send(wire.Tick(
        endpoints=data["endpoints"], errors=data["errors"], dt=dt,
        users=runner.user_count if runner is not None else 0, state=str(getattr(runner, "state", "")),
        workers=len(getattr(runner, "clients", {}) or {}) if _is_master(environment) else 0))


_from_workers = Window()


def _is_master(environment: Any) -> bool:
    return isinstance(environment.runner, locust.runners.MasterRunner)


def _is_worker(environment: Any) -> bool:
    return isinstance(environment.runner, locust.runners.WorkerRunner)


@events.init.add_listener
def on_init(environment: Any, **_: Any) -> None:
    if _is_worker(environment):
        @environment.events.report_to_master.add_listener
        def on_report(client_id: str, data: dict[str, Any]) -> None:
            data["perflab"] = _reset()

        @environment.events.test_stop.add_listener
        def on_worker_stop(**_: Any) -> None:
            # Report as soon as the users have stopped. After a "stop" message Locust's worker sends
            # "client_stopped" and no statistics, and the master may quit before the worker re-registers;
            # sent here, the report travels on the same socket before "client_stopped". (After "quit" the
            # master waits only 0.5 s for a last report: hence --stop-timeout 0, users stopped at once.)
            runner = environment.runner
            data: dict[str, Any] = {}
            environment.events.report_to_master.fire(client_id=runner.client_id, data=data)
            runner.send_message("stats", data)
        return

    if _is_master(environment):
        @environment.events.worker_report.add_listener
        def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
            if "perflab" in data:
                _from_workers.add_encoded(data["perflab"])

    last = [time.monotonic()]

    def ticker() -> None:
        while True:
            gevent.sleep(INTERVAL)
            _tick(environment, last)

    greenlet = gevent.spawn(ticker)

    @environment.events.test_stop.add_listener
    def on_test_stop(**_: Any) -> None:
        _tick(environment, last)

    @environment.events.quitting.add_listener
    def on_quitting(**_: Any) -> None:
        runner = environment.runner
        if runner is not None and runner.state not in (locust.runners.STATE_STOPPED, locust.runners.STATE_INIT):
            # Ctrl-C / SIGTERM: Locust fires "quitting" before it stops the users; stop them first (a master
            # waits for its workers' last reports) so no request completes after the last tick.
            runner.stop()
        greenlet.kill(block=False)
        _tick(environment, last)
        wire.channel().send(wire.LocustQuit())
        if _raw_file is not None:
            _raw_file.flush()


def _control_users() -> tuple[int, float] | None:
    """The parent's wish, read from the control file: ``{"users": 20, "rate": 100}`` or ``{"stop": true}``."""
    try:
        with open(CONFIG["control"], encoding="utf-8") as f:
            want = json.load(f)
    except (OSError, ValueError):
        return (0, 100.0)
    if want.get("stop"):
        return None
    return int(want.get("users", 0)), float(want.get("spawn_rate", 100.0))


if CONFIG.get("shape") == "steps":
    class PerflabSteps(LoadTestShape):
        """Users by step: [[users, seconds], ...]; each step holds its user count for its seconds."""

        def tick(self) -> tuple[int, float] | None:
            t = self.get_run_time()
            for users, seconds in CONFIG["steps"]:
                if t < seconds:
                    return int(users), float(CONFIG.get("spawn_rate") or max(int(users), 1))
                t -= seconds
            return None

elif CONFIG.get("shape") == "control":
    class PerflabControl(LoadTestShape):
        """The stress runner drives the user count through the control file."""

        def tick(self) -> tuple[int, float] | None:
            return _control_users()
