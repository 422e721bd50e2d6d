"""The process monitor on real children: CPU of a spinning child, RSS of an allocating one, the whole tree."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import psutil

from perflab.core.model import Event, Sample
from perflab.core.monitor import ProcessMonitor, descendants


def spawn(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE)


def run_monitor(pid: int, seconds: float, hz: float = 10.0) -> tuple[list[Sample], ProcessMonitor]:
    events: list[Event] = []
    mon = ProcessMonitor(events.append, hz=hz, rediscover=0.3)
    mon.watch(pid, "target")

    async def go() -> None:
        task = asyncio.create_task(mon.run())
        await asyncio.sleep(seconds)
        task.cancel()

    asyncio.run(go())
    return [e for e in events if isinstance(e, Sample)], mon


def series(samples: list[Sample], name: str) -> list[float]:
    return [s.value for s in samples if s.series == name]


def test_spinning_child_cpu_matches_its_real_cpu_time() -> None:
    child = spawn("""
        import sys
        print("go", flush=True)
        while True:
            pass
    """)
    try:
        assert child.stdout is not None
        child.stdout.readline()
        proc = psutil.Process(child.pid)
        c0, w0 = sum(proc.cpu_times()[:2]), time.monotonic()
        samples, mon = run_monitor(child.pid, 1.5)
        c1, w1 = sum(proc.cpu_times()[:2]), time.monotonic()
    finally:
        child.kill()
        child.wait()
    cpu = series(samples, "proc.cpu")
    assert len(cpu) >= 8  # 10 Hz for 1.5 s, allowing for a loaded machine
    truth = (c1 - c0) / (w1 - w0)  # the child's real share of a core, measured independently
    mean = sum(cpu) / len(cpu)
    assert abs(mean - truth) < 0.2, (mean, truth)
    if truth > 0.8:  # on an idle machine a spinning child is near one core, and so must the monitor say
        assert mean > 0.7
    assert all(s.labels == (("role", "target"),) for s in samples)
    assert {"proc.cpu", "proc.rss", "proc.threads", "proc.fds", "proc.procs", "proc.io.read", "proc.io.write",
            "proc.ctx_switches"} <= {s.series for s in samples}
    summary = mon.summary()["target"]
    assert summary["cpu_time"] > 0
    assert summary["ticks"] == len(cpu)


def test_allocating_child_rss_grows() -> None:
    child = spawn("""
        import time
        print("go", flush=True)
        keep = []
        for _ in range(40):
            keep.append(bytearray(4 * 1024 * 1024))  # touched: 4 MiB resident each
            time.sleep(0.03)
        time.sleep(60)
    """)
    try:
        assert child.stdout is not None
        child.stdout.readline()
        samples, mon = run_monitor(child.pid, 2.0)
    finally:
        child.kill()
        child.wait()
    rss = series(samples, "proc.rss")
    assert len(rss) >= 8
    assert rss[-1] - rss[0] > 80 * 1024 * 1024  # at least half of the 160 MiB it allocated was seen
    summary = mon.summary()["target"]
    assert summary["peak_rss"] >= rss[-1]
    assert summary["first_rss"] == rss[0]


def test_whole_tree_is_summed_and_ended_processes_are_dropped() -> None:
    child = spawn("""
        import subprocess, sys, time
        kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _ in range(2)]
        print(" ".join(str(k.pid) for k in kids), flush=True)
        time.sleep(1.0)
        for k in kids:
            k.kill()
            k.wait()
        time.sleep(30)
    """)
    try:
        assert child.stdout is not None
        kids = [int(x) for x in child.stdout.readline().split()]
        assert set(kids) <= set(descendants(child.pid))
        samples, _ = run_monitor(child.pid, 2.0)
    finally:
        child.kill()
        child.wait()
    procs = series(samples, "proc.procs")
    assert max(procs) == 3  # the child and its two children
    assert procs[-1] == 1  # the two ended and were dropped
    threads = series(samples, "proc.threads")
    assert max(threads) >= 3


def test_a_dead_target_stops_producing_samples() -> None:
    child = spawn("print('go', flush=True)")
    assert child.stdout is not None
    child.stdout.readline()
    child.wait()
    samples, mon = run_monitor(child.pid, 0.4)
    assert samples == []
    assert mon.summary()["target"]["ticks"] == 0
