"""The process monitor's own CPU cost at 10 Hz, on a quiet machine and with 500 more processes on it.

The monitor runs in a thread of its own, with its own event loop, watching a sleeping 3-thread target. Its cost
is the CPU time of that thread (``time.thread_time``: the event loop's wake-ups included) per wall second of the
window. Each round runs the arms one after the other, in an order that rotates from round to round: the monitor
at 10 Hz, and the same monitor at 0.1 Hz (no tick in the window: the thread's cost without sampling); ``net`` is
10 Hz minus 0.1 Hz within a phase of a round. Each round has two phases, in alternating order: the machine as it
is, and the machine with 500 more sleeping processes, started by this benchmark for the phase and reaped after it
(children of a helper, so this process's own children stay as few as in a real run). The figures are medians
over the rounds. Target: < 0.5 % of one core in both phases.

Run for figures (about 2.5 minutes, 1.2 more per extra arm)::

    python3 -m pytest tests/performance/test_monitor_perf.py -s -q

With ``PERFLAB_MONITOR_OTHER=path/to/monitor_old.py`` that file's ``ProcessMonitor`` runs as one more arm in the
same rounds, named after the file (an earlier version: ``git show REV:perflab/core/monitor.py >
/tmp/monitor_old.py``; several files: separated by ``:``).
CI smoke (one short round per phase, a loose bound): add ``--benchmark-disable``.
Each phase prints one line starting with "PERF".
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from perflab.core.monitor import ProcessMonitor

CROWD = 500  # extra processes the second phase starts
TARGET = """
import threading, time
for _ in range(2):
    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
print("go", flush=True)
time.sleep(600)
"""
# Starts N sleeping processes, says how many, and on end of input (this benchmark ended, or died) kills them,
# waits for them and exits.
HELPER = """
import os, signal, sys
sleep, n = sys.argv[1], int(sys.argv[2])
pids = [os.posix_spawn(sleep, [sleep, "600"], os.environ) for _ in range(n)]
print(len(pids), flush=True)
sys.stdin.read()
for pid in pids:
    os.kill(pid, signal.SIGKILL)
for pid in pids:
    os.waitpid(pid, 0)
"""


def full(request: pytest.FixtureRequest) -> bool:
    """True for a measuring run; False under --benchmark-disable (CI smoke: small and quick)."""
    return not request.config.getoption("benchmark_disable", default=False)


def processes() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def other_monitors() -> dict[str, type[Any]]:
    """``ProcessMonitor`` of each file PERFLAB_MONITOR_OTHER names (separated by ``os.pathsep``), by file stem."""
    out: dict[str, type[Any]] = {}
    for path in filter(None, os.environ.get("PERFLAB_MONITOR_OTHER", "").split(os.pathsep)):
        stem = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(f"perflab_other_{stem}", path)
        assert spec is not None and spec.loader is not None, path
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        out[stem] = module.ProcessMonitor
    return out


def cost(monitor: Callable[..., Any], pid: int, hz: float, seconds: float) -> tuple[float, int]:
    """(CPU seconds of the monitor's thread per wall second, ticks) over a window of ``seconds``."""
    ticks: list[object] = []
    out: dict[str, float] = {}

    def thread() -> None:
        mon = monitor(lambda e: ticks.append(e) if getattr(e, "series", "") == "proc.cpu" else None, hz=hz)
        mon.watch(pid, "target")

        async def go() -> None:
            task = asyncio.create_task(mon.run())
            c0, w0 = time.thread_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            out["cpu"], out["wall"] = time.thread_time() - c0, time.perf_counter() - w0
            task.cancel()

        asyncio.run(go())

    t = threading.Thread(target=thread)
    t.start()
    t.join()
    return out["cpu"] / out["wall"], len(ticks)


class Crowd:
    """CROWD sleeping processes, children of a helper in its own process group, for as long as it is open."""

    def __init__(self) -> None:
        sleep = shutil.which("sleep")
        assert sleep is not None
        self.helper = subprocess.Popen([sys.executable, "-c", HELPER, sleep, str(CROWD)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, start_new_session=True)
        try:
            assert self.helper.stdout is not None
            assert int(self.helper.stdout.readline()) == CROWD
            assert len(psutil.Process(self.helper.pid).children()) == CROWD  # they really run while measured
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        assert self.helper.stdin is not None
        self.helper.stdin.close()
        try:
            self.helper.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.helper.pid, 9)  # the sleeps are in the helper's process group
            self.helper.wait()


Runs = dict[str, list[tuple[float, int]]]  # arm -> [(cost, ticks) per round]


def measure(arms: dict[str, tuple[Callable[..., Any], float]], pid: int, rounds: int,
            seconds: float) -> tuple[Runs, Runs, list[int], list[int]]:
    """Each round: both phases (quiet, then with the crowd, or the other way round) and in each phase every arm
    once, orders rotated from round to round. Returns the runs of each phase and the process counts seen."""
    names = list(arms)
    quiet: Runs = {name: [] for name in names}
    busy: Runs = {name: [] for name in names}
    counts: tuple[list[int], list[int]] = ([], [])
    for r in range(rounds):
        for crowded in ((False, True) if r % 2 == 0 else (True, False)):
            crowd = Crowd() if crowded else None
            try:
                counts[crowded].append(processes())
                for name in names[r % len(names):] + names[:r % len(names)]:
                    monitor, hz = arms[name]
                    (busy if crowded else quiet)[name].append(cost(monitor, pid, hz, seconds))
            finally:
                if crowd is not None:
                    crowd.close()
    return quiet, busy, counts[0], counts[1]


def report(phase: str, runs: dict[str, list[tuple[float, int]]], seconds: float) -> dict[str, float]:
    """Print the phase's PERF line; return the median net cost (10 Hz minus 0.1 Hz, same round) per code."""
    idle = [c for c, _ in runs["new 0.1 Hz"]]
    nets: dict[str, float] = {}
    parts = []
    for name, rs in runs.items():
        if not name.endswith(" 10 Hz"):
            continue
        code = name.removesuffix(" 10 Hz")
        costs = [c for c, _ in rs]
        nets[code] = statistics.median(c - i for c, i in zip(costs, idle, strict=True))
        parts.append(f"{code} {statistics.median(costs) * 100:.3f} % (net {nets[code] * 100:.3f} %; rounds "
                     f"{', '.join(f'{c * 100:.3f}' for c in costs)}; ticks {[n for _, n in rs]})")
    print(f"\nPERF monitor 10 Hz, {phase}: " + "; ".join(parts)
          + f"; 0.1 Hz {statistics.median(idle) * 100:.3f} % (median of {len(idle)} x {seconds:g} s)")
    return nets


def test_monitor_costs_under_half_a_percent_of_a_core_with_500_processes(request: pytest.FixtureRequest) -> None:
    rounds, seconds = (7, 5.0) if full(request) else (1, 1.0)
    arms: dict[str, tuple[Callable[..., Any], float]] = {"new 10 Hz": (ProcessMonitor, 10.0),
                                                         "new 0.1 Hz": (ProcessMonitor, 0.1)}
    for stem, other in other_monitors().items():
        arms[f"{stem} 10 Hz"] = (other, 10.0)
    target = subprocess.Popen([sys.executable, "-c", TARGET], stdout=subprocess.PIPE)
    try:
        assert target.stdout is not None
        target.stdout.readline()
        quiet, busy, before, crowd = measure(arms, target.pid, rounds, seconds)
    finally:
        target.kill()
        target.wait()
    nets_quiet = report(f"{statistics.median(before):.0f} processes on the machine", quiet, seconds)
    nets_busy = report(f"{statistics.median(crowd):.0f} processes on the machine (+{CROWD} started by this "
                       f"benchmark)", busy, seconds)
    for runs in (quiet, busy):
        for name, rs in runs.items():
            if name.endswith(" 10 Hz"):  # it really sampled at about 10 Hz
                assert min(n for _, n in rs) >= 0.7 * 10 * seconds, (name, rs)
    bound = 0.005 if full(request) else 0.05
    assert nets_quiet["new"] < bound
    assert nets_busy["new"] < bound
