"""kill -9 of perflab leaves no process behind, for every test type; and what a dead perflab's watchdog could not
end, the next perflab's sweep does.

Each case starts a real headless run, waits until its children run (the tools, the target, what those start),
then SIGKILLs perflab. Every process seen below perflab, and every process carrying one of the supervisor tokens
found in their environments, must be gone (or a zombie) within 2 s. ``orphans left`` lines are printed for the
record (``pytest -s``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.conftest import PROFILES, REPO, command_line

pytestmark = pytest.mark.slow

TOKEN = "PERFLAB_SUPERVISOR_TOKEN"
GONE_WITHIN = 2.0  # s

BENCH = '''
import time


def test_slow(benchmark):
    benchmark.pedantic(time.sleep, args=(0.05,), rounds=2000, iterations=1)
'''

# A daemon: fork, setsid, fork again, and re-execute with an empty environment, so neither the process group,
# the session, the parent nor the supervisor's token leads to it. The original process stays busy (so the cpu
# runner keeps sampling it) and writes both pids to a file.
ESCAPE = '''
import os, sys, time
if len(sys.argv) > 2 and sys.argv[1] == "reborn":
    open(sys.argv[2], "a").write(f"{os.getpid()} ")
    time.sleep(120)
    sys.exit()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), "reborn", sys.argv[1]], {})
    os._exit(0)
open(sys.argv[1], "a").write(f"{os.getpid()} ")
end = time.time() + 120
while time.time() < end:
    sum(range(10_000))
'''


def _api(extra: str) -> str:
    text = (PROFILES / "api.toml").read_text()
    return text.replace('duration = "20s"', 'duration = "60s"').replace("users = 20", "users = 4") + extra


def _stress() -> str:
    text = (PROFILES / "stress.toml").read_text()
    return text.replace('step_duration = "3s"', 'step_duration = "20s"')


CASES: dict[str, tuple[str, Callable[[list[str]], bool]]] = {
    "benchmark": ("""
        name = "o-bench"
        [target]
        pytest = "benches"
        [test]
        type = "benchmark"
        processes = 2
        warmup = false
    """, lambda cmds: any("pytest" in c for c in cmds)),
    "load": (_api(""), lambda cmds: any("locust" in c for c in cmds) and any("httpapp" in c for c in cmds)),
    "stress": (_stress(), lambda cmds: any("locust" in c for c in cmds) and any("httpapp" in c for c in cmds)),
    "cpu": ("""
        name = "o-cpu"
        [target]
        callable = "perflab.demo.busy:crunch"
        [test]
        type = "cpu"
        duration = "60s"
    """, lambda cmds: any("py-spy" in c for c in cmds) and any("loop_call" in c for c in cmds)),
    "memory": ("""
        name = "o-memory"
        [target]
        callable = "perflab.demo.busy:crunch"
        [test]
        type = "memory"
        duration = "60s"
    """, lambda cmds: any("memray" in c for c in cmds)),
    "leak": ("""
        name = "o-leak"
        [target]
        callable = "perflab.demo.leaky:process_record"
        [test]
        type = "leak"
        iterations = 1000000
    """, lambda cmds: any("leak_harness" in c for c in cmds)),
    "concurrency": ("""
        name = "o-conc"
        [target]
        callable = "perflab.demo.counter:locked_increment"
        [test]
        type = "concurrency"
        levels = [2]
        workers = ["threads", "processes"]
        duration = "3s"
        max_calls = 100000000
        check = "none"
    """, lambda cmds: any("concurrency_harness" in c for c in cmds) and any("py-spy" in c for c in cmds)),
    "concurrency-processes": ("""
        name = "o-conc-p"
        [target]
        callable = "perflab.demo.counter:locked_increment"
        [test]
        type = "concurrency"
        levels = [2]
        workers = ["processes"]
        duration = "60s"
        check = "none"
        gil = false
    """, lambda cmds: sum("multiprocessing" in c for c in cmds) >= 3),
    "query": ("""
        name = "o-query"
        [target]
        database = "{db}"
        sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"
        [test]
        type = "query"
        warmup = 0
        executions = 1
        explain = false
    """, lambda cmds: any("query_agent" in c for c in cmds)),
    "escaping-target": ("""
        name = "o-escape"
        [target]
        script = "escape.py"
        args = ["{pids}"]
        [test]
        type = "cpu"
        duration = "60s"
    """, lambda cmds: any("escape.py" in c for c in cmds)),
}


def _prepare(tmp: Path, case: str) -> Path:
    (tmp / "benches").mkdir(exist_ok=True)
    (tmp / "benches" / "test_slow.py").write_text(BENCH)
    (tmp / "escape.py").write_text(ESCAPE)
    db = tmp / "empty.sqlite"
    db.touch()
    text = textwrap.dedent(CASES[case][0]).replace("{db}", str(db)).replace("{pids}", str(tmp / "pids"))
    path = tmp / f"{case}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _family(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tokens(procs: list[psutil.Process]) -> set[str]:
    found = set()
    for p in procs:
        try:
            value = p.environ().get(TOKEN)
        except psutil.Error:
            continue
        if value:
            found.add(value)
    return found


def _token_holders(tokens: set[str]) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(TOKEN) in tokens and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            continue
    return out


def _escaped(tmp: Path) -> list[psutil.Process]:
    out = []
    path = tmp / "pids"
    for word in (path.read_text().split() if path.exists() else []):
        try:
            out.append(psutil.Process(int(word)))
        except psutil.Error:
            pass
    return out


def _start(tmp: Path, prof: Path, runtime: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp), str(REPO)]), "PERFLAB_RUNTIME_DIR": str(runtime)}
    return subprocess.Popen([sys.executable, "-m", "perflab", "--headless", "-q", str(prof), "--store",
                             str(tmp / "store")], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _wait_running(perflab: subprocess.Popen[str], ready: Callable[[list[str]], bool], what: str,
                  tmp: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if perflab.poll() is not None:
            pytest.fail(f"{what}: perflab ended early ({perflab.returncode}): {perflab.stdout.read()}")  # type: ignore[union-attr]
        daemon_up = what != "escaping-target" or len(_escaped(tmp)) == 2
        if daemon_up and ready([command_line(p) for p in _family(perflab.pid)]):
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: the children never started: {[command_line(p) for p in _family(perflab.pid)]}")


def _left(seen: list[psutil.Process], tokens: set[str]) -> list[psutil.Process]:
    left = {p.pid: p for p in seen if _alive(p)}
    left.update({p.pid: p for p in _token_holders(tokens)})
    return list(left.values())


def _kill(procs: list[psutil.Process]) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


@pytest.mark.parametrize("case", sorted(CASES))
def test_kill_9_leaves_no_process(tmp_path: Path, case: str) -> None:
    prof = _prepare(tmp_path, case)
    perflab = _start(tmp_path, prof, tmp_path / "run")
    seen: list[psutil.Process] = []
    tokens: set[str] = set()
    try:
        _wait_running(perflab, CASES[case][1], case, tmp_path)
        time.sleep(0.5)  # a moment of the run itself (the watchdog scans every 0.1 s)
        seen = _family(perflab.pid) + _escaped(tmp_path)
        tokens = _tokens(seen)
        assert tokens, "the children carry the supervisor's token"
        perflab.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        perflab.wait(timeout=10)
        left = _left(seen, tokens)
        while left and time.monotonic() < killed + GONE_WITHIN:
            time.sleep(0.02)
            left = _left(seen, tokens)
        print(f"\norphans left after kill -9 ({case}): {len(left)} of {len(seen)} processes seen "
              f"(checked {time.monotonic() - killed:.2f} s after the kill)")
        assert left == [], f"{case}: left running: {[(p.pid, command_line(p)) for p in left]}"
    finally:
        if perflab.poll() is None:
            perflab.kill()
            perflab.wait()
        _kill(_left(seen, tokens))
        if perflab.stdout is not None:
            perflab.stdout.close()


def _watchdogs(owner: int) -> list[psutil.Process]:
    return [p for p in psutil.process_iter() if "watchdog.py" in command_line(p) and f" {owner} " in command_line(p)]


def test_the_next_run_sweeps_what_a_dead_perflab_and_its_watchdog_left(tmp_path: Path) -> None:
    """perflab and its watchdog both SIGKILLed: the daemon that escaped survives, until the next perflab starts."""
    runtime = tmp_path / "run"
    prof = _prepare(tmp_path, "escaping-target")
    perflab = _start(tmp_path, prof, runtime)
    escaped: list[psutil.Process] = []
    try:
        _wait_running(perflab, CASES["escaping-target"][1], "escaping-target", tmp_path)
        time.sleep(0.6)  # the watchdog has recorded the daemon in its state file
        escaped = [p for p in _escaped(tmp_path) if "reborn" in command_line(p)]
        assert len(escaped) == 1
        dogs = _watchdogs(perflab.pid)
        assert len(dogs) == 1, "one watchdog per perflab"
        assert list(runtime.glob("*.json")), "the watchdog keeps its state file"
        perflab.send_signal(signal.SIGSTOP)  # so it cannot start a new watchdog when it finds the first one gone
        dogs[0].kill()
        dogs[0].wait(5)
        perflab.kill()
        perflab.wait(timeout=10)
        time.sleep(0.5)
        assert _alive(escaped[0]), "with the watchdog gone too, the daemon outlived perflab"
        nxt = tmp_path / "next.toml"
        nxt.write_text('name = "next"\n[target]\ncallable = "perflab.demo.sorting:counting_sort"\n'
                       '[test]\ntype = "cpu"\nduration = "1s"\n', encoding="utf-8")
        second = _start(tmp_path, nxt, runtime)
        out, _ = second.communicate(timeout=120)
        assert not _alive(escaped[0]), "the next run's sweep ended it"
        assert "ended 1 process(es) left running by a perflab that died earlier" in out, out
        assert not list(runtime.glob("*.json")), "state files of dead owners are removed; the live one's too at exit"
    finally:
        if perflab.poll() is None:
            perflab.kill()
            perflab.wait()
        _kill([p for p in escaped if _alive(p)])
        if perflab.stdout is not None:
            perflab.stdout.close()


LOCUSTFILE = '''
from locust import HttpUser, constant, task


class Idle(HttpUser):
    host = "http://127.0.0.1:9"
    wait_time = constant(0.5)

    @task
    def nothing(self):
        pass
'''


def test_a_locust_perflab_starts_stops_itself_at_its_time_limit(tmp_path: Path) -> None:
    """The stress runner's control shape never ends by itself and ignores --run-time; with perflab gone (nobody
    writes the control file), the limit perflab gives every Locust still ends it."""
    from perflab.runners.load.runner import plugin_path

    (tmp_path / "lf.py").write_text(LOCUSTFILE)
    (tmp_path / "control.json").write_text('{"users": 1}')
    env = {**os.environ, "PERFLAB_LOCUST_LIMIT": "2",
           "PERFLAB_LOAD": f'{{"interval": 1.0, "shape": "control", "control": "{tmp_path / "control.json"}"}}'}
    files = f"{tmp_path / 'lf.py'},{plugin_path()},{plugin_path('locust_limit')}"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "locust", "-f", files, "--headless", "--only-summary"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    assert "time limit for Locust (2 s) reached" in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 0 and took < 15, (proc.returncode, took)


def test_every_locust_gets_a_limit_from_the_profile_or_the_plan() -> None:
    from perflab.core import profiles
    from perflab.runners.load.runner import LIMIT_MARGIN, time_limit
    from perflab.runners.load.stress import plan_seconds

    stress = profiles.parse((PROFILES / "stress.toml").read_text(), "stress.toml")
    assert stress.timeout == 180
    assert time_limit(stress, None) == 180 + LIMIT_MARGIN
    untimed = profiles.parse('[target]\nurl = "http://127.0.0.1:9/"\n[test]\ntype = "stress"\nslo = ["p95 < 1s"]\n',
                             "s.toml")
    plan = plan_seconds(untimed.test.params, 1, 1, 10)
    assert untimed.timeout is None and time_limit(untimed, plan) == pytest.approx(plan + 60 + 30 + LIMIT_MARGIN)
    load = profiles.parse((PROFILES / "api.toml").read_text(), "api.toml")
    assert time_limit(load, 20.0) == min(120 + LIMIT_MARGIN, 20 + 60 + 30 + LIMIT_MARGIN)
