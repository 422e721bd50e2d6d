"""A run stopped mid-way (the app's stop, which is the engine's stop, as Ctrl-C is in headless) ends
interrupted with what it measured, marked partial, for every test type; a stopped load run stops Locust before
the served process, so the stop itself causes no failed request and no threshold breach."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from perflab.core import profiles, testtypes
from perflab.core.engine import Engine, Outcome
from perflab.core.model import Event, Notice, Sample, Status
from perflab.lab import session as lab
from perflab.report import junit, markdown
from tests.conftest import run_cli

USERCODE = """
import time

def slow_alloc():
    time.sleep(0.005)
    return bytearray(50_000)

def inc(x=None):
    return 1
"""

SERVED = """
[serve]
command = "demo"
args = ["--slow-delay", "0.02", "--cpu-ms", "1", "--fail-rate", "0"]

[target]
endpoints = [{ method = "GET", path = "/fast", weight = 3 }, { method = "GET", path = "/slow", weight = 1 }]
"""

# test type -> (profile body after name and timeout, the series whose first sample means "measuring", seconds
# of measuring before the stop)
CASES: dict[str, tuple[str, str, float]] = {
    "benchmark": ("""
        [target]
        callable = "perflab.demo.sorting:counting_sort"
        input = "perflab.demo.sorting:random_ints"
        [test]
        type = "benchmark"
        n = [100, 1000, 10_000, 100_000, 200_000, 300_000]
        processes = 3
        max_time = "0.5s"
        """, "bench.round", 0.3),
    "load": (SERVED + """
        [test]
        type = "load"
        users = 5
        duration = "60s"
        """, "load.rps", 2.0),
    "stress": (SERVED.replace('"/fast", weight = 3 }, { method = "GET", path = "/slow", weight = 1 }',
                              '"/fast" }') + """
        [test]
        type = "stress"
        start_users = 2
        step_users = 2
        max_users = 40
        step_duration = "2s"
        settle = 0.5
        """, "stress.p95", 0.1),
    "cpu": ("""
        [target]
        callable = "perflab.demo.busy:crunch"
        [test]
        type = "cpu"
        duration = "60s"
        refresh = "1s"
        """, "cpu.samples", 0.5),
    "memory": ("""
        [target]
        callable = "usercode:slow_alloc"
        [test]
        type = "memory"
        duration = "60s"
        """, "proc.rss", 1.5),
    "leak": ("""
        [target]
        callable = "usercode:slow_alloc"
        [test]
        type = "leak"
        warmup = 2
        iterations = 100000
        """, "leak.traced", 0.5),
    "concurrency": ("""
        [target]
        callable = "usercode:inc"
        [test]
        type = "concurrency"
        levels = [1, 2, 4, 8]
        workers = ["threads"]
        duration = "2s"
        gil = false
        """, "conc.throughput", 0.1),
    "query": ("""
        [target]
        engine = "sqlite"
        database = "DB"
        sql = ["SELECT count(*) FROM t WHERE x > ?"]
        [test]
        type = "query"
        params = [[10], [500]]
        warmup = 1
        executions = 10_000_000
        explain = false
        """, "query.latency", 0.5),
}


def _profile(folder: Path, test_type: str) -> str:
    body, _, _ = CASES[test_type]
    text = f'name = "stopped-{test_type}"\ntimeout = "2m"\n' + textwrap.dedent(body)
    if test_type == "query":
        db = folder / "q.db"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE t (x INTEGER)")
            conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(2000)])
        text = text.replace('"DB"', json.dumps(str(db)))
    return text


def stopped_run(folder: Path, text: str, measuring: Callable[[Event], bool], after: float
                ) -> tuple[Outcome, list[Event]]:
    """Run the profile ``text`` through the app's run path, ask it to stop ``after`` s after the first event
    for which ``measuring`` is true, and return the outcome and every event."""
    path = folder / "p.toml"
    path.write_text(text, encoding="utf-8")
    profile = profiles.load(path)
    seen: list[Event] = []
    engines: list[Engine] = []

    class StopWhenMeasuring:
        armed = False

        def handle(self, event: Event) -> None:
            seen.append(event)
            if not self.armed and measuring(event):
                self.armed = True
                asyncio.get_running_loop().call_later(after, engines[0].stop)

    outcome = asyncio.run(lab.run_session(profile, folder / "store", [StopWhenMeasuring()],
                                          on_engine=engines.append, workdir=folder))
    return outcome, seen


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "usercode.py").write_text(USERCODE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PERFLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("PERFLAB_BASELINES", str(tmp_path / "baselines"))
    return tmp_path


@pytest.mark.slow
def test_a_stopped_load_run_records_no_failure_caused_by_the_stop(folder: Path) -> None:
    """The demo server never fails these requests: any failure or breach would be the stop's doing (the server
    stopped while Locust still sent requests)."""
    text = _profile(folder, "load").replace('timeout = "2m"', 'timeout = "2m"\nthresholds = ["p95 < 500ms", '
                                                                '"error_rate < 1%"]')
    outcome, seen = stopped_run(folder, text.replace("users = 5", "users = 10"),
                                lambda e: isinstance(e, Sample) and e.series == "load.rps" and e.value > 0, 3.0)
    result = outcome.result
    assert result.status == Status.INTERRUPTED, result.message
    assert result.data["requests"] > 100 and result.data["partial"] is True
    assert result.data["failures"] == 0 and result.data["errors"] == {}, result.data["errors"]
    assert not [e for e in seen if isinstance(e, Notice) and e.code == "threshold.breach"]
    failed = [e for e in seen if isinstance(e, Sample) and e.series == "load.failures" and e.value > 0]
    assert not failed, failed[:3]
    # the server stopped after Locust: it was alive for every request Locust made
    assert not [e for e in seen if isinstance(e, Notice) and "server" in e.message and "died" in e.message]
    stored = lab.get_session(folder / "store", outcome.session_id)
    assert stored.status == Status.INTERRUPTED and stored.result is not None
    assert stored.result.data["failures"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("test_type", list(CASES))
def test_a_stopped_run_stores_a_result_marked_partial(folder: Path, test_type: str) -> None:
    _, series, after = CASES[test_type]
    outcome, _ = stopped_run(folder, _profile(folder, test_type),
                             lambda e: isinstance(e, Sample) and e.series == series, after)
    assert outcome.result.status == Status.INTERRUPTED, outcome.result.message
    row = lab.get_session(folder / "store", outcome.session_id)
    result = row.result
    assert row.status == Status.INTERRUPTED and result is not None
    assert result.data.get("partial") is True
    assert "partial" in result.message
    partial_notes = [n for n in result.notes if n.kind.endswith(".partial")]
    assert len(partial_notes) == 1 and partial_notes[0].text.startswith("Partial: stopped after")
    assert result.tables, "a stopped run shows what it measured until the stop"
    assert "nothing had been measured" not in partial_notes[0].text
    # the files a CI job writes say it too
    report = markdown.ProfileReport(row.profile, row.id, result, 130, row.duration or 0.0)
    assert "Partial: stopped after" in markdown.render([report])
    error = junit.build([report]).find(".//testcase[@name='run']/error")
    assert error is not None and "Partial: stopped after" in (error.text or "")


def test_the_cases_cover_every_test_type() -> None:
    assert set(CASES) == {name for name, t in testtypes.TEST_TYPES.items() if t.built}


@pytest.mark.slow
def test_perflab_show_says_a_stopped_session_is_partial(folder: Path) -> None:
    outcome, _ = stopped_run(folder, _profile(folder, "leak"),
                             lambda e: isinstance(e, Sample) and e.series == "leak.traced", 0.3)
    env = {"PERFLAB_STORE": str(folder / "store")}
    text = run_cli("show", outcome.session_id, cwd=folder, env={**env, "COLUMNS": "200"}, timeout=60)
    assert text.returncode == 0, text.stderr
    assert "Partial: stopped after" in text.stdout and "INTERRUPTED" in text.stdout
    doc = run_cli("show", outcome.session_id, "--json", cwd=folder, env=env, timeout=60)
    assert doc.returncode == 0, doc.stderr
    result = json.loads(doc.stdout)["session"]["result"]
    assert result["data"]["partial"] is True
    assert any(n["kind"] == "run.partial" for n in result["notes"])
