"""The process monitor on real children: CPU of a spinning child, RSS of an allocating one, the whole tree, and
new descendants and orphans found from children lists, without reading every process on the machine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from perflab.core import monitor
from perflab.core.model import Event, Sample
from perflab.core.monitor import ProcessMonitor, descendants
from perflab.core.proctree import children_files
from tests.conftest import REPO


def spawn(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE)


def kill_tree(child: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything below it, and reap them all. Once an in-process run has made this pytest
    process a subreaper, the killed descendants are re-parented here: unreaped, they would stay as zombie
    children of the test process, and later tests that check it has no children would see them."""
    below: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        below = psutil.Process(child.pid).children(recursive=True)
    for p in below:
        with contextlib.suppress(psutil.Error):
            p.kill()
    child.kill()
    child.wait()
    deadline = time.monotonic() + 5.0
    pending = {p.pid for p in below}
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    pending.discard(pid)
            except ChildProcessError:  # not (yet) ours: wait while it still hangs below the killed tree
                try:
                    mine = psutil.Process(pid).ppid() in (os.getpid(), child.pid)
                except psutil.Error:
                    mine = False
                if not mine:
                    pending.discard(pid)
        time.sleep(0.01)


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


@pytest.mark.slow
def test_new_descendants_are_found_from_the_children_lists_without_a_full_scan(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A grandchild forked from a second thread, a second after the watch starts, is found within a few ticks
    although the periodic walk is an hour away and reading every process's parent is forbidden."""
    if not children_files():
        pytest.skip("this kernel has no /proc/PID/task/TID/children")

    def no_scan() -> dict[int, int]:
        raise AssertionError("the monitor scanned all of /proc")

    monkeypatch.setattr(monitor, "ppid_map", no_scan)
    child = spawn("""
        import subprocess, sys, threading, time
        print("go", flush=True)
        time.sleep(1.0)
        def start():
            # a child whose own child is a grandchild of the root
            kid = subprocess.Popen([sys.executable, "-c",
                                    "import subprocess, time; subprocess.Popen(['sleep', '30']); time.sleep(30)"])
            print(kid.pid, flush=True)
        threading.Thread(target=start).start()
        time.sleep(30)
    """)
    try:
        assert child.stdout is not None
        child.stdout.readline()
        events: list[Event] = []
        mon = ProcessMonitor(events.append, hz=10.0, rediscover=3600.0)
        mon.watch(child.pid, "target")

        async def go() -> None:
            task = asyncio.create_task(mon.run())
            await asyncio.sleep(3.0)
            task.cancel()

        asyncio.run(go())
    finally:
        kill_tree(child)
    procs = [e for e in events if isinstance(e, Sample) and e.series == "proc.procs"]
    assert procs[0].value == 1
    assert max(s.value for s in procs) == 3  # the root, its child and its grandchild
    first = min(s.t for s in procs if s.value == 3)
    assert first - procs[0].t < 2.5  # the child started about 1 s after the watch (3 s window)


# Driven step by step: the root (its own session, a supervisor token in its environment) makes daemons and a
# chain of processes on command; each process prints its role and pid once it is in the state the step needs.
ORPHANS_ROOT = """
import os, signal, sys, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # intermediates are reaped at once: no zombie links them
folder = sys.argv[1]
def out(*words):
    print(*words, flush=True)
def wait_for(name):
    while not os.path.exists(os.path.join(folder, name)):
        time.sleep(0.01)
def orphaned(parent):
    while os.getppid() == parent:
        time.sleep(0.01)
out("go")
for line in sys.stdin:
    kind = line.strip()
    if kind in ("session", "token"):  # double fork; the intermediate is gone before anyone looks
        if os.fork() == 0:
            if kind != "session":
                os.setsid()
            mid = os.getpid()
            if os.fork() == 0:
                orphaned(mid)
                out(kind, os.getpid())
                time.sleep(20)
            os._exit(0)
    elif kind == "chain":  # P, then its child Q (own session, wiped environment), then Q's child R after P ended
        if os.fork() == 0:
            out("P", os.getpid())
            wait_for("q")
            if os.fork() == 0:
                os.setsid()
                os.environ.clear()
                out("Q", os.getpid())
                wait_for("r")
                if os.fork() == 0:
                    out("R", os.getpid())
                    time.sleep(20)
                time.sleep(20)
            wait_for("p-exit")
            os._exit(0)
"""

ORPHANS_DRIVER = """
import json, os, signal, subprocess, sys, tempfile, time
from perflab.core import monitor
from perflab.core.monitor import ProcessMonitor
from perflab.core.proctree import SUPERVISOR_TOKEN_ENV
from perflab.runners.agents import lifeline

def no_scan():
    raise AssertionError("the monitor scanned all of /proc")

monitor.ppid_map = no_scan
assert lifeline.set_subreaper(True)
folder = tempfile.mkdtemp()
env = {**os.environ, SUPERVISOR_TOKEN_ENV: "t0ken"}
root = subprocess.Popen([sys.executable, "-c", sys.argv[1], folder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        env=env, start_new_session=True, text=True)
pids = {}
def read():
    role, pid = root.stdout.readline().split()
    pids[role] = int(pid)
def send(line):
    root.stdin.write(line + "\\n")
    root.stdin.flush()
def touch(name):
    open(os.path.join(folder, name), "w").close()
found = {}
unrelated = None
try:
    assert root.stdout.readline().strip() == "go"
    mon = ProcessMonitor(lambda e: None, rediscover=3600.0)
    mon.watch(root.pid)
    tree = mon.trees[root.pid]
    mon.sample_once()
    unrelated = subprocess.Popen(["sleep", "20"], start_new_session=True)  # this process's own, not the tree's
    for kind in ("session", "token"):
        send(kind)
        read()
    mon.sample_once()
    found.update((k, pids[k] in tree.procs) for k in ("session", "token"))
    found["unrelated"] = unrelated.pid in tree.procs
    send("chain")
    read()
    mon.sample_once()
    found["P"] = pids["P"] in tree.procs
    touch("q")
    read()
    mon.sample_once()
    found["Q"] = pids["Q"] in tree.procs
    touch("p-exit")
    while int(open(f"/proc/{pids['Q']}/stat").read().rsplit(")", 1)[1].split()[1]) != os.getpid():
        time.sleep(0.01)  # Q is now this process's orphan
    mon.sample_once()
    found["Q after P ended"] = pids["Q"] in tree.procs and pids["P"] not in tree.procs
    touch("r")
    read()
    mon.sample_once()
    found["R"] = pids["R"] in tree.procs
    mon.close()
finally:
    for pid in pids.values():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os.killpg(root.pid, signal.SIGKILL)
    root.wait()
    if unrelated is not None:
        unrelated.kill()
        unrelated.wait()
    for pid in pids.values():
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
print(json.dumps(found))
"""


@pytest.mark.slow
def test_processes_that_leave_their_parents_stay_in_the_tree() -> None:
    """In a subreaper (as perflab is): daemons that double-forked join their tree by session or by the supervisor
    token; a process whose parent ended stays, and its later children are found; this process's own children
    are not claimed. The whole of /proc is never scanned."""
    if not children_files():
        pytest.skip("this kernel has no /proc/PID/task/TID/children")
    proc = subprocess.run([sys.executable, "-c", ORPHANS_DRIVER, textwrap.dedent(ORPHANS_ROOT)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.splitlines()[-1])
    assert found == {"session": True, "token": True, "unrelated": False, "P": True, "Q": True,
                     "Q after P ended": True, "R": True}, found


def test_without_children_lists_the_tree_is_found_by_the_periodic_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback for kernels without /proc/PID/task/TID/children: every `rediscover` s, all parents read."""
    monkeypatch.setattr(monitor, "children_files", lambda: False)
    child = spawn("""
        import subprocess, time
        kid = subprocess.Popen(["sleep", "30"])
        print(kid.pid, flush=True)
        time.sleep(30)
    """)
    try:
        assert child.stdout is not None
        kid = int(child.stdout.readline())
        samples, mon = run_monitor(child.pid, 0.8)
        assert kid in mon.trees[child.pid].procs
    finally:
        kill_tree(child)
    assert max(series(samples, "proc.procs")) == 2
