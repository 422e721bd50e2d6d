"""What the profiling runners (cpu, memory) share: building the target's command line,
checking that a running process may be attached to, and turning a target's failure into one line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

from perflab.core.model import ExitCode, PerflabError, Profile, ToolError
from perflab.runners.agents import wire
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.child import target_config
from perflab.runners.framework.output import last_line
from perflab.runners.framework.process import describe_exit

LOOP_AGENT = "perflab.runners.agents.loop_call"
CAP_SYS_PTRACE = 19  # bit number in /proc/PID/status CapEff


def python_args(profile: Profile, ctx: RunContext, *, duration: float | None,
                iterations: int | None) -> list[str]:
    """Arguments after ``python`` that run the target: a script with its args, or the loop agent."""
    t = profile.target
    if t.kind == "script":
        cfg = target_config(profile, ctx)
        return [cfg["script"], *cfg["argv"]]
    if t.kind == "callable":
        if duration is None and iterations is None:
            duration = 5.0
        cfg = {**target_config(profile, ctx), "duration": duration, "iterations": iterations}
        return ["-m", LOOP_AGENT, json.dumps(cfg)]
    raise AssertionError(f"not a Python target: {t.kind}")


def target_argv(profile: Profile, ctx: RunContext, *, duration: float | None,
                iterations: int | None) -> list[str]:
    """The full command that runs the target (command targets run as given)."""
    if profile.target.kind == "command":
        return [str(a) for a in profile.target.value] + [str(a) for a in profile.target.options.get("args") or []]
    return [sys.executable, *python_args(profile, ctx, duration=duration, iterations=iterations)]


def workdir_of(profile: Profile, ctx: RunContext) -> Path:
    cwd = profile.target.options.get("cwd")
    return (ctx.workdir / cwd) if cwd else ctx.workdir


def has_capability(bit: int, status_path: str = "/proc/self/status") -> bool:
    try:
        for line in Path(status_path).read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def ptrace_scope(path: str = "/proc/sys/kernel/yama/ptrace_scope") -> int:
    """Yama's ptrace_scope (0 classic, 1 descendants only, 2 CAP_SYS_PTRACE only, 3 none); 0 without Yama."""
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return 0


def attach_problem(*, pid: int, my_uid: int, target_uid: int, scope: int, cap_ptrace: bool,
                   descendant: bool) -> str | None:
    """Why attaching to ``pid`` would fail, with what to do, or None when it should work."""
    if scope >= 3:
        return (f"cannot attach to pid {pid}: kernel.yama.ptrace_scope is 3 (attaching disabled until reboot); "
                "let perflab start the target instead (script, command or callable)")
    if not cap_ptrace:
        if my_uid != target_uid:  # without CAP_SYS_PTRACE even root may trace only its own uid's processes
            return (f"permission denied: pid {pid} belongs to uid {target_uid}, perflab runs as uid {my_uid} "
                    "without CAP_SYS_PTRACE; run perflab as that user, or with sudo / CAP_SYS_PTRACE "
                    "(in a container: --cap-add SYS_PTRACE)")
        if scope == 2:
            return (f"cannot attach to pid {pid}: kernel.yama.ptrace_scope is 2 (admin only); run perflab with "
                    "sudo (CAP_SYS_PTRACE) or let perflab start the target")
        if scope == 1 and not descendant:
            return (f"cannot attach to pid {pid}: kernel.yama.ptrace_scope is 1 (only parents may attach); run "
                    "`sudo sysctl kernel.yama.ptrace_scope=0`, run perflab with sudo, or let perflab start it")
    return None


def check_attach(pid: int) -> psutil.Process:
    """Fail within a second, with what to do, when ``pid`` is missing or may not be traced."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            raise psutil.NoSuchProcess(pid)
        target_uid = proc.uids().real
    except psutil.NoSuchProcess:
        raise PerflabError(f"pid {pid}: no such process", ExitCode.BAD_INPUT) from None
    except psutil.AccessDenied:
        raise ToolError(f"permission denied: cannot inspect pid {pid}; run perflab as its owner or with sudo") \
            from None
    if pid == os.getpid():
        raise PerflabError(f"pid {pid} is perflab itself", ExitCode.BAD_INPUT)
    me = psutil.Process()
    descendant = any(p.pid == me.pid for p in proc.parents())
    problem = attach_problem(pid=pid, my_uid=os.geteuid(), target_uid=target_uid, scope=ptrace_scope(),
                             cap_ptrace=has_capability(CAP_SYS_PTRACE), descendant=descendant)
    if problem:
        raise ToolError(problem)
    return proc


def ensure_running(pid: int) -> bool:
    """Continue a process left stopped (a tracer killed mid-sample can leave it in state T). True if sent."""
    try:
        if psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP):
            os.kill(pid, signal.SIGCONT)
            return True
    except (psutil.Error, OSError):
        pass
    return False


class LoopCalls:
    """The loop agent's count as it last reported it (agents/loop_call.py): ``n`` calls in ``elapsed`` s."""

    def __init__(self) -> None:
        self.n = 0
        self.elapsed = 0.0

    def on_record(self, record: dict[str, Any]) -> None:
        message = wire.parse(record, wire.LOOP)
        if isinstance(message, wire.LoopProgress | wire.LoopDone):
            self.n, self.elapsed = message.n, message.elapsed

    def rate(self) -> float | None:
        """Calls per second, or None before the loop made and reported a call."""
        return self.n / self.elapsed if self.n and self.elapsed else None


def target_failure(code: int | None, stderr: Iterable[str], elapsed: float) -> ToolError:
    return ToolError(f"the target failed ({describe_exit(code)}) after {elapsed:.2f} s: {last_line(stderr)}")
