"""A served target: perflab starts the server a load or stress profile names in ``[serve]``, waits until it
accepts connections on its port, and stops it afterwards.

``command = "demo"`` runs the embedded Starlette app (perflab.demo.httpapp); any other command is an argv
list or string in which ``{port}`` is replaced by the chosen port (also passed as ``PORT``). The server binds
127.0.0.1; ``port = 0`` (the default) picks a free loopback port. The process monitor samples the server's
tree with ``role="server"``; ``Server.pid`` is there for profilers that attach to it (py-spy, issue 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perflab.core.model import ExitCode, PerflabError, Profile, ToolError
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.process import Child, describe_exit

HOST = "127.0.0.1"
DEMO_MODULE = "perflab.demo.httpapp"


@dataclass
class Server:
    child: Child
    port: int
    host: str = HOST

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.child.pid

    def alive(self) -> bool:
        return self.child.returncode is None

    def stderr_tail(self, n: int = 5) -> str:
        lines = [x.strip() for x in list(self.child.stderr_tail) + list(self.child.stdout_tail) if x.strip()]
        return " | ".join(lines[-n:]) if lines else "no output"

    def died_message(self) -> str:
        return (f"the server (pid {self.child.pid}) died during the test ({describe_exit(self.child.returncode)}); "
                f"its last output: {self.stderr_tail()}")

    async def stop(self) -> None:
        """SIGTERM first: servers (uvicorn, gunicorn) treat it as a clean shutdown without a traceback."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.child.proc.wait()), 3.0)  # type: ignore[union-attr]
        await self.child.stop(interrupt_grace=1.0, term_grace=2.0)


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_port_free(port: int, host: str = HOST, what: str = "serve.port") -> None:
    """Raise a one-line PerflabError (exit 2) when something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PerflabError(f"{what}: port {port} on {host} is already in use by another process",
                                   ExitCode.BAD_INPUT) from None
            if e.errno == errno.EACCES:
                raise PerflabError(f"{what}: permission denied binding port {port} on {host}",
                                   ExitCode.BAD_INPUT) from None
            raise


def server_argv(spec: Mapping[str, Any], port: int) -> list[str]:
    command = spec["command"]
    if command == ["demo"] or command == "demo":
        return [sys.executable, "-m", DEMO_MODULE, "--port", str(port), *spec.get("args", [])]
    parts = [str(x).replace("{port}", str(port)) for x in command]
    parts += [str(x).replace("{port}", str(port)) for x in spec.get("args", [])]
    return parts


def _connects(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect((host, port))
            return True
        except OSError:
            return False


async def _http_ok(host: str, port: int, path: str) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 2.0)
        parts = line.decode("latin-1").split()
        return len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < 500
    except (OSError, TimeoutError, UnicodeDecodeError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def start(profile: Profile, ctx: RunContext) -> Server | None:
    """Start the profile's ``[serve]`` server (None when it has none) and wait until it is ready."""
    spec = profile.extra.get("serve")
    if not spec:
        return None
    port = int(spec.get("port") or 0)
    if port:
        check_port_free(port)
    else:
        port = free_port()
    argv = server_argv(spec, port)
    if profile.test.params.get("profile_memory"):  # issue 5: run the server under memray
        from perflab.runners.load.serverprof import memray_argv

        argv = memray_argv(profile, ctx, argv)
    cwd = spec.get("cwd")
    base = Path(profile.path).parent if profile.path else ctx.workdir
    workdir = (base / cwd) if cwd else ctx.workdir
    env = _env(spec, port)
    ctx.phase("serve", f"starting server on {HOST}:{port}")
    child = await ctx.spawn(argv, source="server", role="server", cwd=workdir, env=env, side_channel=False)
    server = Server(child, port)
    timeout = float(spec.get("ready_timeout") or 20.0)
    path = spec.get("ready_path") or ""
    deadline = time.monotonic() + timeout
    while True:
        if not server.alive():
            await child.wait(timeout=2.0)
            raise ToolError(f"the server exited before it was ready ({describe_exit(child.returncode)}): "
                            f"{server.stderr_tail()}")
        ready = await _http_ok(HOST, port, path) if path else await asyncio.to_thread(_connects, HOST, port)
        if ready:
            break
        if time.monotonic() > deadline:
            tail = server.stderr_tail()
            await server.stop()
            raise ToolError(f"the server did not become ready on {HOST}:{port} within {timeout:g} s "
                            f"(serve.ready_timeout); its last output: {tail}")
        await asyncio.sleep(0.1)
    child.track()
    ctx.log(f"server ready at {server.url} (pid {server.pid})", source="perflab")
    return server


def _env(spec: Mapping[str, Any], port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: str(v) for k, v in (spec.get("env") or {}).items()})
    env["PORT"] = str(port)
    return env
