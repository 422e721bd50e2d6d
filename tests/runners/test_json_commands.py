"""``--json`` of sessions, show, compare, history and baseline show, through the real CLI on a real store.

Three real runs are shared by the tests: a benchmark that saves its baseline, the same benchmark 20 times
slower (PERFLAB_DEMO_SLOWDOWN=19, which neither noise nor load can hide), and a script that prints a declared
secret and fails. Every document is read as the whole of stdout with a strict parser (no NaN), so anything
else printed there fails the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from perflab.store.sessions import SessionStore
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

TOKEN = "tok-5ecret-Jx47"  # noqa: S105 - a test value
NAME = "counting_sort[n=1000]"
KEY = f"benchmark={NAME}"

BENCH = """\
name = "jsonbench"
secrets = ["API_TOKEN"]

[target]
callable = "perflab.demo.sorting:counting_sort"
input = "perflab.demo.sorting:random_ints"

[test]
type = "benchmark"
n = [1000]
processes = 3  # two give a confidence interval too wide to exclude even a 20x change
max_time = "0.03s"
warmup_iterations = 2

[gate]
baseline_processes = 3  # the saved run too: these tests read its raw samples per process
"""

LEAKY = """\
name = "leaky"
secrets = ["API_TOKEN"]
[target]
script = "leaky.py"
[test]
type = "cpu"
duration = "1s"
"""


def strict(text: str) -> Any:
    """The whole text as one JSON document; NaN or Infinity fail the test."""
    def refuse(word: str) -> Any:
        raise AssertionError(f"not strict JSON: {word}")
    return json.loads(text, parse_constant=refuse)


def session_id(proc: Any) -> str:
    m = re.search(r"^session (\S+)$", proc.stdout, re.MULTILINE)
    assert m, proc.stdout + proc.stderr
    return m.group(1)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("jsoncmds")
    (root / "bench.toml").write_text(BENCH)
    (root / "leaky.toml").write_text(LEAKY)
    (root / "leaky.py").write_text('import os\ntok = os.environ["API_TOKEN"]\nprint("connecting with", tok, '
                                   'flush=True)\nraise ValueError(f"bad token {tok}")\n')
    env = {"PERFLAB_STORE": str(root / "store"), "PERFLAB_DEMO_SLOWDOWN": "", "API_TOKEN": TOKEN}
    fast = run_cli("--headless", "bench.toml", "-q", "--baseline-dir", "bl", "--save-baseline",
                   "--json", "fast.json", cwd=root, env=env)
    assert fast.returncode == 0, fast.stdout + fast.stderr
    slow = run_cli("--headless", "bench.toml", "-q", "--no-baseline", cwd=root,
                   env={**env, "PERFLAB_DEMO_SLOWDOWN": "19"})
    assert slow.returncode == 0, slow.stdout + slow.stderr
    leaky = run_cli("--headless", "leaky.toml", "-q", cwd=root, env=env)
    assert leaky.returncode == 3, leaky.stdout + leaky.stderr
    return {"root": root, "env": env, "fast": session_id(fast), "slow": session_id(slow),
            "leaky": session_id(leaky)}


def cli_json(lab: dict[str, Any], *args: str, code: int = 0) -> Any:
    proc = run_cli(*args, "--json", cwd=lab["root"], env=lab["env"])
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    doc = strict(proc.stdout)
    assert doc["format"] == 2 and isinstance(doc["perflab_version"], str) and doc["perflab_version"]
    return doc


def cli_error(lab: dict[str, Any], *args: str) -> str:
    """A refused command with --json: exit 2, nothing on stdout, one line on stderr."""
    proc = run_cli(*args, "--json", cwd=lab["root"], env=lab["env"])
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("perflab: "), proc.stderr
    return proc.stderr


def test_sessions_lists_every_run_newest_first(lab: dict[str, Any]) -> None:
    doc = cli_json(lab, "sessions")
    assert doc["store"] == str(lab["root"] / "store")
    rows = doc["sessions"]
    assert [r["id"] for r in rows] == [lab["leaky"], lab["slow"], lab["fast"]]
    assert [(r["profile"], r["test_type"], r["status"], r["exit_code"]) for r in rows] == [
        ("leaky", "cpu", "error", 3), ("jsonbench", "benchmark", "passed", 0), ("jsonbench", "benchmark", "passed", 0)]
    assert len({tuple(r) for r in rows}) == 1, "every row has the same keys"
    for r in rows:  # numbers, not text: seconds since the epoch and seconds
        assert isinstance(r["started"], float) and isinstance(r["duration"], float) and r["duration"] > 0
        assert r["ended"] == pytest.approx(r["started"] + r["duration"], abs=1.0)
    assert rows[0]["started"] > rows[1]["started"] > rows[2]["started"]
    assert [r["id"] for r in cli_json(lab, "sessions", "--profile", "jsonbench")["sessions"]] == [lab["slow"],
                                                                                                  lab["fast"]]
    assert cli_json(lab, "sessions", "--status", "crashed")["sessions"] == []


def test_show_carries_the_stored_result_as_headless_json_writes_it(lab: dict[str, Any]) -> None:
    s = cli_json(lab, "show", lab["fast"])["session"]
    assert (s["id"], s["status"], s["profile_path"]) == (lab["fast"], "passed", "bench.toml")
    assert s["profile_text"] == BENCH and s["machine"]["cores"] >= 1
    written = json.loads((lab["root"] / "fast.json").read_text())["runs"][0]
    assert written["session"] == lab["fast"]
    assert s["result"]["metrics"] == written["result"]["metrics"]
    assert s["result"]["raw"] == written["result"]["raw"]
    median = next(m for m in s["result"]["metrics"] if m["name"] == "median")
    assert median["unit"] == "s" and 0 < median["value"] < 1 and median["labels"] == {"benchmark": NAME}
    assert len(s["result"]["raw"][f"median{{{KEY}}}"]) == 3  # raw samples of every process
    assert {a["kind"] for a in s["artifacts"]} >= {"pytest-benchmark-json"}, s["artifacts"]


def test_show_of_a_failed_run_keeps_its_logs_and_hides_the_secret(lab: dict[str, Any]) -> None:
    """cli_json checks every command's output for the secret; here the secret is where the target put it."""
    s = cli_json(lab, "show", lab["leaky"], "--logs", "200")["session"]
    assert (s["status"], s["exit_code"]) == ("error", 3)
    lines = [x["line"] for x in s["logs"]]
    assert "connecting with ***" in lines, lines
    assert any("bad token ***" in line for line in lines), lines
    assert all(isinstance(x["t"], float) and x["stream"] in ("stdout", "stderr") for x in s["logs"])
    tail = cli_json(lab, "show", "last", "--logs", "1")["session"]
    assert tail["id"] == lab["leaky"] and [x["line"] for x in tail["logs"]] == lines[-1:]


def test_compare_judges_and_keeps_its_exit_code(lab: dict[str, Any]) -> None:
    gate = ("--tolerance", "0.5", "--max-cv", "10")  # a 50 % minimum effect: only the 20x slowdown counts
    doc = cli_json(lab, "compare", lab["fast"], lab["slow"], *gate, code=1)
    assert doc["baseline"]["session"] == lab["fast"] and doc["candidate"]["session"] == lab["slow"]
    assert doc["baseline"]["ref"] == lab["fast"] and doc["baseline"]["path"] is None
    assert doc["failed"] is True and doc["counts"] == {"faster": 0, "slower": 1, "unchanged": 0, "unstable": 0}
    (row,) = doc["rows"]
    # judged in reference units or in seconds: the gate picks per benchmark the one with the narrower interval
    assert (row["key"], row["subject"], row["unit"], row["verdict"]) in {
        (f"relative{{{KEY}}}", NAME, "ref", "slower"), (f"median{{{KEY}}}", NAME, "s", "slower")}
    assert row["ratio"] > 5 and row["ci"][0] <= row["ratio"] <= row["ci"][1]
    assert row["candidate"] / row["baseline"] == pytest.approx(row["ratio"])
    assert doc["settings"]["tolerance"] == 0.5 and doc["settings"]["max_cv"] == 10.0
    back = cli_json(lab, "compare", lab["slow"], lab["fast"], *gate)  # the other way round: faster, exit 0
    assert back["failed"] is False and [r["verdict"] for r in back["rows"]] == ["faster"]


def test_compare_with_a_baseline_file_and_baseline_show_agree(lab: dict[str, Any]) -> None:
    doc = cli_json(lab, "compare", "bl/jsonbench.json", lab["fast"], "--max-cv", "10")
    assert doc["baseline"]["path"] == "bl/jsonbench.json" and doc["baseline"]["session"] == lab["fast"]
    (row,) = doc["rows"]
    # the same samples on both sides: no change; "unchanged" only when 3 processes make the interval narrow enough
    assert row["ratio"] == pytest.approx(1.0) and row["verdict"] in ("unchanged", "unstable")
    shown = cli_json(lab, "baseline", "show", "jsonbench", "--baseline-dir", "bl")
    assert shown["path"] == "bl/jsonbench.json" and shown["baseline"]["session"] == lab["fast"]
    summary = {s["key"]: s for s in shown["summary"]}
    rel = summary[f"relative{{{KEY}}}"]
    assert (rel["unit"], rel["processes"]) == ("ref", 3) and rel["rounds"] >= 15
    assert summary[row["key"]]["center"] == pytest.approx(row["baseline"]) and rel["process_cv"] >= 0
    assert summary[f"median{{{KEY}}}"]["unit"] == "s"
    assert shown["baseline"]["raw"][f"relative{{{KEY}}}"] and shown["machine_differences"] == []


def test_history_aligns_values_with_sessions(lab: dict[str, Any]) -> None:
    doc = cli_json(lab, "history", "jsonbench")
    assert (doc["profile"], doc["metric"], doc["alpha"]) == ("jsonbench", "median", 0.05)
    assert [s["id"] for s in doc["sessions"]] == [lab["fast"], lab["slow"]]  # oldest first
    (series,) = doc["series"]
    assert series["key"] == f"median{{{KEY}}}" and series["unit"] == "s"
    before, after = series["values"]
    assert after / before > 5
    assert series["change_points"] == []  # two sessions are too few to find one


def test_refusals_print_no_document(lab: dict[str, Any]) -> None:
    assert "no session 'nosuch'" in cli_error(lab, "show", "nosuch")
    assert "no finished sessions of profile 'nosuch'" in cli_error(lab, "history", "nosuch")
    assert "no metric 'nosuch'" in cli_error(lab, "history", "jsonbench", "--metric", "nosuch")
    assert "not a baseline file" in cli_error(lab, "compare", "nosuch", lab["fast"])


def test_empty_store(tmp_path: Path) -> None:
    SessionStore(tmp_path / "store").close()  # a real store with no session in it
    lab = {"root": tmp_path, "env": {"PERFLAB_STORE": str(tmp_path / "store")}}
    assert cli_json(lab, "sessions")["sessions"] == []
    assert "no sessions stored yet" in cli_error(lab, "show", "last")
    assert "no finished sessions" in cli_error(lab, "history", "any")
