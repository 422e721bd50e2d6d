"""``perflab worker --master HOST[:PORT]``: Locust worker process(es) joining a perflab load master.

Without ``--locustfile`` each worker downloads the master's locustfiles (the user's or the generated one, and
perflab's plugin, so this worker's histograms reach the master). Output goes to this terminal; Ctrl-C or
SIGTERM stops every worker this command started.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from perflab.core.model import ExitCode, PerflabError
from perflab.runners.framework.process import Child, describe_exit


def parse_master(value: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (default port 5557, Locust's) -> (host, port); PerflabError (exit 2) when malformed."""
    host, sep, port_text = value.rpartition(":") if ":" in value else (value, "", "")
    host = host.strip("[]")
    if not host:
        raise PerflabError(f"--master: expected HOST[:PORT], got {value!r}")
    port = 5557
    if sep:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise PerflabError(f"--master: {port_text!r} is not a TCP port (1-65535)")
        port = int(port_text)
    return host, port


def cmd_worker(master: str, locustfile: str | None = None, processes: int = 1) -> int:
    """Run Locust worker process(es) joining a perflab load master; returns an exit code.

    Without ``locustfile`` the worker downloads the master's locustfiles (the user's or the generated one, and
    perflab's plugin, so this worker's histograms reach the master). Output goes to this terminal.
    """
    from perflab.runners.load.runner import plugin_path

    host, port = parse_master(master)
    if processes < 1:
        raise PerflabError("--processes: expected a positive integer")
    files = "-"
    if locustfile:
        if not Path(locustfile).is_file():
            raise PerflabError(f"{locustfile}: no such locustfile")
        files = f"{Path(locustfile).resolve()},{plugin_path()}"
    argv = [sys.executable, "-m", "locust", "--worker", "--master-host", host, "--master-port", str(port),
            "-f", files]
    env = dict(os.environ)
    env.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    env["PYTHONPATH"] = os.pathsep.join(x for x in (os.getcwd(), env.get("PYTHONPATH")) if x)
    return asyncio.run(_run_workers(argv, env, processes, f"{host}:{port}"))


async def _run_workers(argv: list[str], env: dict[str, str], processes: int, where: str) -> int:
    import signal

    def echo(stream: str, line: str) -> None:
        print(line, file=sys.stderr if stream == "stderr" else sys.stdout, flush=True)

    children = [Child(argv, env=env, name=f"worker-{i + 1}", on_line=echo, side_channel=False)
                for i in range(processes)]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"perflab worker: {processes} Locust worker(s) joining the master at {where}", file=sys.stderr)
    try:
        for child in children:
            await child.start()
        waits = [asyncio.create_task(c.wait()) for c in children]
        stopper = asyncio.create_task(stop.wait())
        everyone: asyncio.Future[Any] = asyncio.gather(*waits)
        await asyncio.wait([everyone, stopper], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            for child in children:
                await child.stop()
            for w in waits:
                w.cancel()
            return int(ExitCode.INTERRUPTED)
        stopper.cancel()
        codes = [c.returncode or 0 for c in children]
    finally:
        for child in children:
            if child.proc is not None and child.returncode is None:
                await child.stop()
    bad = [c for c in codes if c != 0]
    if bad:
        print(f"perflab worker: a Locust worker failed ({describe_exit(bad[0])})", file=sys.stderr)
        return int(ExitCode.RUNNER_ERROR)
    return 0
