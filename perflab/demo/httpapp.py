"""The embedded HTTP target: a small Starlette app on uvicorn with endpoints of known cost.

Endpoints (all GET, JSON bodies):
  /health  readiness probe
  /fast    returns at once
  /slow    sleeps ``delay`` seconds without holding the CPU (``?delay=0.2`` overrides the default)
  /cpu     burns CPU in the event loop for about ``cpu_ms`` milliseconds, so concurrent requests queue
  /flaky   fails (HTTP 500) a ``fail_rate`` fraction of requests, at random
  /echo    POST: returns the JSON body it got and whether an Authorization header was present
  /private answers 401 unless ``Authorization: Bearer <token>`` carries the token held in the environment
           variable named by ``--token-env`` (a stand-in for an authenticated API)

Run: ``python -m perflab.demo.httpapp --port 8765 [--slow-delay 0.05] [--cpu-ms 5] [--fail-rate 0.05]``.
It binds 127.0.0.1 only: perflab sends load to loopback and nowhere else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import threading
import time
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Costs:
    slow_delay: float = 0.05  # seconds
    cpu_ms: float = 5.0  # milliseconds of CPU per /cpu request
    fail_rate: float = 0.05  # fraction 0..1 of /flaky requests that fail
    token: str = ""  # the bearer token /private wants ("" = /private always answers 401)


def build_app(costs: Costs | None = None) -> Starlette:
    c = costs or Costs()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def fast(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def slow(request: Request) -> JSONResponse:
        delay = float(request.query_params.get("delay", c.slow_delay))
        await asyncio.sleep(min(max(delay, 0.0), 30.0))
        return JSONResponse({"ok": True, "delay": delay})

    async def cpu(request: Request) -> JSONResponse:
        ms = float(request.query_params.get("ms", c.cpu_ms))
        # Busy work on the event loop on purpose: a CPU-bound handler serialises requests, so latency grows
        # with concurrency the way a real saturated service does.
        end = time.perf_counter() + min(max(ms, 0.0), 5000.0) / 1000.0
        x = 0
        while time.perf_counter() < end:
            for i in range(200):
                x = (x * 31 + i) % 1_000_003
        return JSONResponse({"ok": True, "x": x})

    async def flaky(request: Request) -> JSONResponse:
        rate = float(request.query_params.get("rate", c.fail_rate))
        if random.random() < rate:
            return JSONResponse({"ok": False, "error": "injected failure"}, status_code=500)
        return JSONResponse({"ok": True})

    async def echo(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "error": "body is not JSON"}, status_code=400)
        return JSONResponse({"ok": True, "body": body, "auth": "authorization" in request.headers})

    async def private(request: Request) -> JSONResponse:
        if not c.token or request.headers.get("authorization") != f"Bearer {c.token}":
            return JSONResponse({"ok": False, "error": "unauthorized"}, status_code=401)
        return JSONResponse({"ok": True})

    routes = [Route("/private", private), Route("/health", health), Route("/fast", fast), Route("/slow", slow), Route("/cpu", cpu),
              Route("/flaky", flaky), Route("/echo", echo, methods=["POST"])]
    return Starlette(routes=routes)


def _exit_with_parent() -> None:
    """Exit when the process that started us is gone (a perflab killed with SIGKILL cannot reap its server,
    and a demo server left listening on loopback helps nobody)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m perflab.demo.httpapp", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--slow-delay", type=float, default=Costs.slow_delay, help="seconds (default %(default)s)")
    ap.add_argument("--cpu-ms", type=float, default=Costs.cpu_ms, help="ms of CPU per /cpu request")
    ap.add_argument("--fail-rate", type=float, default=Costs.fail_rate, help="fraction of /flaky that fail")
    ap.add_argument("--token-env", default="", help="environment variable holding the /private bearer token")
    a = ap.parse_args(argv)
    import uvicorn

    token = os.environ.get(a.token_env, "") if a.token_env else ""
    app = build_app(Costs(a.slow_delay, a.cpu_ms, a.fail_rate, token))
    _exit_with_parent()
    # One worker process, no access log: the log line per request would cost more than /fast itself.
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
