"""The signals behind the bottleneck label, on real processes: CPU time over the window it was measured in,
RSS of a process that has exited, run-queue delay of a starved target apart from one that sleeps, memray's own
writes, and a CPU profile with too few samples for a verdict."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from perflab.core.bottleneck import Bottleneck, classify
from perflab.core.model import Status
from perflab.core.monitor import ProcessMonitor
from tests.runners.profiling_helpers import run_profile

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
CPU = min(os.sched_getaffinity(0))  # the core the starvation tests crowd


def _python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)])


@contextmanager
def hogs(n: int, seconds: float) -> Iterator[None]:
    """``n`` busy loops pinned to one core, outside any monitored tree."""
    procs = [_python(f"""
        import os, time
        os.sched_setaffinity(0, {{{CPU}}})
        end = time.monotonic() + {seconds}
        while time.monotonic() < end:
            pass
    """) for _ in range(n)]
    try:
        time.sleep(0.3)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_processes_one_after_another_never_exceed_the_machine() -> None:
    """Three busy processes of one role, one after another (as a benchmark's processes run): their CPU time is
    divided by the time they covered together, not by the longest one's."""
    summary: dict[str, dict[str, float]] = {}

    async def go() -> None:
        mon = ProcessMonitor(lambda e: None, hz=10.0)
        task = asyncio.create_task(mon.run())
        for _ in range(3):
            child = _python("""
                import time
                end = time.monotonic() + 1.0
                while time.monotonic() < end:
                    pass
            """)
            mon.watch(child.pid, "target")
            await asyncio.to_thread(child.wait)
        await asyncio.sleep(0.2)
        task.cancel()
        summary.update(mon.summary())

    asyncio.run(go())
    t = summary["target"]
    assert t["wall"] >= 2.4, t  # the three windows, not one of them
    cores = t["cpu_time"] / t["wall"]
    assert cores <= (os.cpu_count() or 1), t
    assert cores <= 1.2, t  # one process at a time: about one core at most


def _until_zombie(pid: int) -> None:
    while True:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return
        time.sleep(0.05)


def test_rss_of_a_process_that_exited_is_its_last_valid_sample() -> None:
    """A process that grew to ~200 MiB and exited (an exiting process reads 0): final RSS is ~200 MiB,
    memory-bound. It ends with os._exit, so its memory goes with the process (no interpreter shutdown freeing it)."""
    summary: dict[str, dict[str, float]] = {}

    async def go() -> None:
        mon = ProcessMonitor(lambda e: None, hz=10.0)
        go_file = Path(tempfile.mkdtemp()) / "go"
        child = _python(f"""
            import os, time
            while not os.path.exists({str(go_file)!r}):  # grow only once the monitor has a first sample
                time.sleep(0.01)
            keep = bytearray(200 * 1024 * 1024)
            time.sleep(1.0)
            os._exit(0)
        """)
        mon.watch(child.pid, "target")
        task = asyncio.create_task(mon.run())
        for _ in range(1000):  # at most 10 s
            if mon.trees[child.pid].first_rss is not None:
                break
            await asyncio.sleep(0.01)
        go_file.touch()
        await asyncio.to_thread(_until_zombie, child.pid)  # not reaped: the monitor keeps reading it
        await asyncio.sleep(0.4)
        task.cancel()
        summary.update(mon.summary())
        child.wait()

    asyncio.run(go())
    t = summary["target"]
    assert t["last_rss"] >= 150 * MIB, t
    c = classify(t)
    assert c.label is Bottleneck.MEMORY, c.describe()


def test_starved_cpu_loop_is_cpu_starved(tmp_path: Path) -> None:
    """A CPU loop sharing one core with two other busy loops: run-queue delay, labelled CPU-starved."""
    (tmp_path / "spin.py").write_text(textwrap.dedent(f"""
        import os, time
        os.sched_setaffinity(0, {{{CPU}}})
        end = time.perf_counter() + 3.0
        while time.perf_counter() < end:
            pass
    """))
    text = '[target]\nscript = "spin.py"\n[test]\ntype = "cpu"\nduration = "10s"\nthread_shares = false\n'
    with hogs(2, 8.0):
        outcome, _ = run_profile(text, tmp_path)
    r = outcome.result
    assert r.status is Status.PASSED, r.message
    b = r.data["bottleneck"]["target"]
    assert b["label"] == "CPU-starved", b["text"]
    assert b["evidence"]["run_delay_share"] >= 0.4, b  # two loops beside it: it waited about 2/3 of the time
    assert "the machine is oversubscribed" in b["text"]


def test_sleeping_target_beside_busy_loops_is_not_starved() -> None:
    """The same crowded core, a process that mostly sleeps (as one waiting on I/O or a lock does): its waiting is
    not run-queue delay, and it is not called starved."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, time
        os.sched_setaffinity(0, {{{CPU}}})
        print("ready", flush=True)
        end = time.perf_counter() + 3.0
        while time.perf_counter() < end:
            time.sleep(0.05)
    """)], stdout=subprocess.PIPE)
    summary: dict[str, dict[str, float]] = {}

    async def go() -> None:
        mon = ProcessMonitor(lambda e: None, hz=10.0)
        mon.watch(child.pid, "target")
        task = asyncio.create_task(mon.run())
        await asyncio.sleep(2.0)
        task.cancel()
        summary.update(mon.summary())

    with hogs(2, 6.0):
        assert child.stdout is not None
        child.stdout.readline()  # started: its start-up (which does compete for the core) is over
        try:
            asyncio.run(go())
        finally:
            child.kill()
            child.wait()
    t = summary["target"]
    assert "run_delay" in t, t
    c = classify(t)
    assert c.label is Bottleneck.IDLE, c.describe()
    assert c.evidence["wait_cores"] < 0.1, c.describe()


def test_memray_capture_writes_are_not_the_targets_io(tmp_path: Path) -> None:
    (tmp_path / "churn.py").write_text(textwrap.dedent("""
        import time
        keep = []
        end = time.perf_counter() + 2.0
        while time.perf_counter() < end:
            keep.append([bytearray(100) for _ in range(100)])
            if len(keep) > 200:
                keep.clear()
    """))
    outcome, _ = run_profile('[target]\nscript = "churn.py"\n[test]\ntype = "memory"\n', tmp_path)
    r = outcome.result
    assert r.status is Status.PASSED, r.message
    mon = r.data["monitor"]["target"]
    assert mon["write_bytes"] / mon["wall"] >= 1 * MIB, mon  # memray did write, from the target's process
    b = r.data["bottleneck"]["target"]
    assert b["label"] != Bottleneck.IO.value, b["text"]
    assert "storage writes not counted: memray writes its capture" in b["text"]


@pytest.mark.parametrize("kind", ["pid", "script"])
def test_cpu_profile_with_too_few_samples_gives_no_verdict(tmp_path: Path, kind: str) -> None:
    """A mostly sleeping target profiled for a duration (attached by pid, or a script perflab stops): a few
    samples, and the verdict says it has too little data rather than "100 % of samples"."""
    code = textwrap.dedent("""
        import time
        while True:
            end = time.perf_counter() + 0.005
            while time.perf_counter() < end:
                pass
            time.sleep(0.5)
    """)
    (tmp_path / "nap.py").write_text(code)
    proc = _python(code) if kind == "pid" else None
    try:
        time.sleep(0.5)
        target = f"pid = {proc.pid}" if proc else 'script = "nap.py"'
        text = f'[target]\n{target}\n[test]\ntype = "cpu"\nduration = "2s"\nthread_shares = false\n'
        outcome, _ = run_profile(text, tmp_path)
    finally:
        if proc:
            proc.kill()
            proc.wait()
    r = outcome.result
    if r.status is Status.ERROR:  # py-spy caught the target asleep every time: no sample at all
        assert "no samples" in r.message or "before py-spy could take a sample" in r.message, r.message
        return
    assert r.status is Status.PASSED, r.message
    assert r.data["samples"] < 20, r.data["samples"]
    assert r.message.startswith("too little data for a verdict: "), r.message
    assert r.data["enough_samples"] is False
