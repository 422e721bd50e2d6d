"""The concurrency runner against real threads, spawned processes, asyncio tasks and py-spy.

Durations are short (0.2-0.3 s per level); the whole file takes about 30 s on 2 cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from perflab.core.model import labels
from perflab.runners.agents.concurrency_harness import interpreter
from perflab.runners.concurrency.report import saturation
from perflab.runners.framework.tools import find_tool
from tests.conftest import PROFILES, run_headless

TARGET_MODULE = '''
import asyncio, threading, time

def make_input():
    return 0.002

async def nap(seconds):
    """Async and I/O-like: tasks overlap their waits."""
    await asyncio.sleep(seconds)
    return seconds

def flaky():
    raise ValueError("no luck")

def returns_nothing():
    pass

def doze():
    """I/O-like and the same in a serial re-run: its re-run takes as long as the trial did."""
    time.sleep(0.002)
    return 1

def spin():
    """CPU-bound: holds the GIL all the time."""
    x = 0
    for i in range(20_000):
        x += i
    return x
'''


def run_profile(tmp_path: Path, body: str, *, module: str = "",
                env: dict[str, str] | None = None) -> tuple[Any, dict[str, Any]]:
    return run_headless(tmp_path, body, module=module, env=env, name="conc.toml")


def metric(result: dict[str, Any], name: str, **lbls: object) -> float | None:
    want = dict(labels(**lbls))
    for m in result.get("metrics", []):
        if m["name"] == name and all(m["labels"].get(k) == v for k, v in want.items()):
            return float(m["value"])
    return None


def test_demo_race_is_caught_with_threads_and_not_with_processes(tmp_path: Path) -> None:
    proc, result = run_profile(tmp_path, """
        name = "race"
        [target]
        callable = "perflab.demo.counter:racy_increment"
        setup = "perflab.demo.counter:reset"
        invariant = "perflab.demo.counter:racy_invariant"
        [test]
        type = "concurrency"
        levels = [1, 2]
        workers = ["threads", "processes"]
        duration = "0.15s"
        gil = false
    """)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert result["status"] == "failed"
    assert "threads at level 2" in result["message"]
    assert "updates lost" in result["message"]
    verdicts = {(t["worker"], t["level"]): t["problem"] for t in result["data"]["trials"]}
    assert verdicts[("threads", 1)] is None
    assert verdicts[("threads", 2)] is not None
    assert verdicts[("processes", 1)] is None and verdicts[("processes", 2)] is None
    assert metric(result, "check_failures") == 1
    # the scaling table is printed with one row per worker kind and level
    assert "scaling of perflab.demo.counter:racy_increment" in proc.stdout
    assert proc.stdout.count("FAILED") >= 1
    assert metric(result, "throughput", kind="processes", level=2) > 0
    assert metric(result, "efficiency", kind="threads", level=1) == pytest.approx(1.0)
    assert metric(result, "saturation_level", kind="threads") in (1, 2)


def test_locked_twin_passes_the_serial_comparison(tmp_path: Path) -> None:
    proc, result = run_profile(tmp_path, """
        name = "locked"
        [target]
        callable = "perflab.demo.counter:locked_increment"
        setup = "perflab.demo.counter:reset"
        [test]
        type = "concurrency"
        levels = [1, 4]
        workers = ["threads"]
        duration = "0.2s"
        check = "serial"
        gil = false
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["status"] == "passed"
    trials = result["data"]["trials"]
    assert [t["level"] for t in trials] == [1, 4]
    assert all(t["calls"] > 0 and t["problem"] is None for t in trials)
    assert metric(result, "p95", kind="threads", level=4) > 0


def test_serial_comparison_catches_the_race_without_an_invariant(tmp_path: Path) -> None:
    proc, result = run_profile(tmp_path, """
        name = "serial"
        [target]
        callable = "perflab.demo.counter:racy_increment"
        setup = "perflab.demo.counter:reset"
        [test]
        type = "concurrency"
        levels = [1, 2]
        workers = ["threads"]
        duration = "0.2s"
        gil = false
    """)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "results differ from a serial run" in result["message"]
    assert "threads at level 2" in result["message"]


def test_async_race_is_caught_with_asyncio_tasks(tmp_path: Path) -> None:
    proc, result = run_profile(tmp_path, """
        name = "async"
        [target]
        callable = "perflab.demo.counter:racy_increment_async"
        setup = "perflab.demo.counter:reset"
        invariant = "perflab.demo.counter:racy_invariant"
        [test]
        type = "concurrency"
        levels = [1, 3]
        workers = ["asyncio"]
        duration = "0.2s"
        gil = false
    """)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "asyncio at level 3" in result["message"]


def test_serial_check_of_a_callable_returning_none_says_it_is_blind(tmp_path: Path) -> None:
    proc, result = run_profile(tmp_path, """
        name = "blind"
        [target]
        callable = "usercode:returns_nothing"
        [test]
        type = "concurrency"
        levels = [1, 2]
        workers = ["threads"]
        duration = "0.1s"
        max_calls = 1000
        gil = false
    """, module=TARGET_MODULE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(n["text"].startswith("the callable returns None, so comparing its results")
               and n["level"] == "warning" for n in result["notes"])


def test_sync_callable_skips_asyncio_with_a_note(tmp_path: Path) -> None:
    proc, result = run_profile(tmp_path, """
        name = "skip"
        [target]
        callable = "usercode:spin"
        [test]
        type = "concurrency"
        levels = [1]
        workers = ["threads", "asyncio"]
        duration = "0.2s"
        gil = false
    """, module=TARGET_MODULE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("asyncio skipped" in n["text"] and n["kind"] == "concurrency.skipped" for n in result["notes"])
    assert {t["worker"] for t in result["data"]["trials"]} == {"threads"}
    assert any("with the GIL" in n["text"] for n in result["notes"])


@pytest.mark.skipif(find_tool("py-spy") is None, reason="py-spy is not installed")
def test_gil_wait_grows_with_cpu_bound_threads(tmp_path: Path) -> None:
    proc, result = run_profile(tmp_path, """
        name = "gil"
        [target]
        callable = "usercode:spin"
        [test]
        type = "concurrency"
        levels = [1, 4]
        workers = ["threads"]
        duration = "1s"
        gil = true
    """, module=TARGET_MODULE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    one = metric(result, "gil_wait", kind="threads", level=1)
    four = metric(result, "gil_wait", kind="threads", level=4)
    denied = [n["text"] for n in result["notes"]
              if n["text"].startswith("GIL wait not measured") and "ermission" in n["text"]]
    if denied:  # a container without ptrace rights: py-spy cannot attach, and perflab says so
        pytest.skip(denied[0])
    assert one is not None and four is not None, result["notes"]
    # one CPU-bound thread holds the GIL nearly always; four share it, so each waits most of the time
    assert one < 0.35
    assert four > 0.5
    assert four > one


def test_a_process_trial_times_the_calls_not_the_serial_check(tmp_path: Path) -> None:
    """Each worker re-runs its calls serially after the trial (about as long as the trial again for this
    target): that check, and the transfer of the reports, must not count as time under load."""
    proc, result = run_profile(tmp_path, """
        name = "doze"
        [target]
        callable = "usercode:doze"
        [test]
        type = "concurrency"
        levels = [1, 2]
        workers = ["processes"]
        duration = "0.5s"
        check = "serial"
        gil = false
    """, module=TARGET_MODULE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = result["data"]["trials"]
    assert trials and all(t["calls"] > 50 for t in trials)
    assert all(0.5 <= t["elapsed"] < 0.75 for t in trials), [t["elapsed"] for t in trials]


def test_async_callable_runs_with_every_worker_kind(tmp_path: Path) -> None:
    proc, result = run_profile(tmp_path, """
        name = "async-all"
        [target]
        callable = "usercode:nap"
        input = "usercode:make_input"
        [test]
        type = "concurrency"
        levels = [1, 3]
        workers = ["threads", "processes", "asyncio"]
        duration = "0.15s"
        gil = false
    """, module=TARGET_MODULE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = {(t["worker"], t["level"]): t for t in result["data"]["trials"]}
    assert set(trials) == {(k, n) for k in ("threads", "processes", "asyncio") for n in (1, 3)}
    for t in trials.values():
        assert t["calls"] > 0 and t["problem"] is None and t["errors"] == 0
        assert t["p50"] >= 0.002  # the input (2 ms) reached the callable
    assert result["data"]["saturation"].keys() == {"threads", "processes", "asyncio"}


def test_a_raising_callable_fails_with_the_exception(tmp_path: Path) -> None:
    proc, result = run_profile(tmp_path, """
        name = "raises"
        [target]
        callable = "usercode:flaky"
        [test]
        type = "concurrency"
        levels = [1]
        workers = ["threads"]
        duration = "0.1s"
        max_calls = 50
        check = "none"
        gil = false
    """, module=TARGET_MODULE)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert result["message"] == "50 of 50 calls raised with threads at level 1: ValueError: no luck"


def test_shipped_profile_catches_the_demo_race(tmp_path: Path) -> None:
    """profiles/concurrency.toml as shipped, shortened (0.2 s per level, levels 1 and 2) to fit the budget."""
    import asyncio
    from dataclasses import replace

    from perflab.core import profiles
    from perflab.core.engine import Engine
    from perflab.core.model import Status, TestSpec
    from perflab.runners.framework.base import RunContext, runner_for

    shipped = profiles.load(PROFILES / "concurrency.toml")
    params = {**shipped.test.params, "duration": 0.2, "levels": [1, 2], "gil": False}
    profile = replace(shipped, test=TestSpec(shipped.test.type, params))
    events: list[Any] = []

    class Sink:
        def handle(self, event: Any) -> None:
            events.append(event)

    outcome = asyncio.run(Engine(profile, [Sink()], runner_for=runner_for, context=RunContext, session_id="t",
                                 artifacts_dir=tmp_path / "a", workdir=tmp_path, monitor=False).run())
    assert outcome.result.status == Status.FAILED
    assert outcome.result.message.startswith("thread-safety check failed with threads at level 2")
    table = outcome.result.tables[0]
    assert table.columns[:4] == ("workers", "level", "calls", "throughput")
    assert [(r[0], r[1], r[-1]) for r in table.rows] == [
        ("threads", 1, "ok"), ("threads", 2, "FAILED"), ("processes", 1, "ok"), ("processes", 2, "ok")]
    assert any(getattr(e, "code", "") == "concurrency.unsafe" for e in events)


def test_saturation_is_the_level_after_which_throughput_stops_improving() -> None:
    trials = [{"level": 1, "throughput": 100.0}, {"level": 2, "throughput": 190.0},
              {"level": 4, "throughput": 200.0}, {"level": 8, "throughput": 150.0}]
    assert saturation(trials, 0.10)["level"] == 2
    assert saturation(trials[:2], 0.10)["level"] == 2
    assert saturation([{"level": 1, "throughput": 100.0}, {"level": 2, "throughput": 105.0}], 0.10)["level"] == 1


def test_interpreter_reports_the_gil_state() -> None:
    info = interpreter()
    assert info["free_threaded"] in (True, False)
    assert info["gil_enabled"] is True or info["free_threaded"] is True


def test_stuck_frames_name_the_targets_own_frame() -> None:
    from perflab.runners.concurrency.runner import stuck_frames

    # the shape of `py-spy dump --subprocesses` output (0.4), trimmed
    dump = """Process 101: python -m perflab.runners.agents.concurrency_harness c.json
Python v3.11.7 (/usr/bin/python3.11)

Thread 101 (idle): "MainThread"
    Thread.join (threading.py:1119)
    run_threads (perflab/runners/agents/concurrency_harness.py:208)
Thread 102 (idle): "perflab-worker-0"
    transfer (usercode.py:8)
    _sync_call.<locals>.<lambda> (perflab/runners/agents/concurrency_harness.py:63)
    _thread_loop (perflab/runners/agents/concurrency_harness.py:156)
Process 103: python -c from multiprocessing.spawn import spawn_main
Thread 103 (idle): "MainThread"
    Condition.wait (threading.py:327)
    Event.wait (threading.py:629)
    block (usercode.py:4)
    _sync_call.<locals>.<lambda> (perflab/runners/agents/concurrency_harness.py:63)
    _thread_loop (perflab/runners/agents/concurrency_harness.py:156)
    _process_worker (perflab/runners/agents/concurrency_harness.py:260)
""".splitlines()
    assert stuck_frames(dump) == ["transfer (usercode.py:8)",
                                  "block (usercode.py:4) -> Condition.wait (threading.py:327)"]
