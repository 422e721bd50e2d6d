"""The regression gate end to end through the real CLI: real pytest-benchmark runs, real baseline files.

This checks the plumbing (baseline written, compared automatically, exit codes, slower benchmarks named,
--update-baseline policy, JUnit/Markdown/$GITHUB_STEP_SUMMARY, baseline save/show/import, compare,
history). Statistical power is measured in tests/performance/aa_experiment.py, not here: this machine is
shared and noisy (load averages of 10 on 2 cores were seen while other suites ran), so the profile below gates
at a 100 % tolerance, judges however much process medians vary, and injects a 20x slowdown
(PERFLAB_DEMO_SLOWDOWN=19): neither noise nor load can hide or fake that.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

PROFILE = """\
name = "gatedemo"
tolerance = "100%"
thresholds = ["median < 1s"]

[gate]
max_cv = 10
baseline_processes = 4
max_processes = 4

[target]
callable = "perflab.demo.sorting:counting_sort"
input = "perflab.demo.sorting:random_ints"

[test]
type = "benchmark"
n = [10_000]
processes = 3
max_time = "0.03s"
warmup_iterations = 3
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Three real runs shared by the tests: save a baseline, rerun, rerun 4x slower with --update-baseline."""
    root = tmp_path_factory.mktemp("gates")
    (root / "gatedemo.toml").write_text(PROFILE)
    env = {"PERFLAB_STORE": str(root / "store"), "PERFLAB_DEMO_SLOWDOWN": ""}
    summary = root / "step-summary.md"
    common = ("--headless", "gatedemo.toml", "-q", "--baseline-dir", "bl")
    save = run_cli(*common, "--save-baseline", cwd=root, env=env)
    saved_bytes = (root / "bl" / "gatedemo.json").read_bytes() if (root / "bl" / "gatedemo.json").exists() else b""
    same = run_cli(*common, "--junit", "same.xml", "--markdown", "same.md", "--json", "same.json", cwd=root,
                   env={**env, "GITHUB_STEP_SUMMARY": str(summary)})
    slow = run_cli(*common, "--update-baseline", "--junit", "slow.xml", cwd=root,
                   env={**env, "PERFLAB_DEMO_SLOWDOWN": "19"})
    return {"root": root, "env": env, "save": save, "same": same, "slow": slow, "saved_bytes": saved_bytes,
            "summary": summary}


def test_save_baseline_writes_a_versioned_file_with_raw_samples(lab) -> None:
    save = lab["save"]
    assert save.returncode == 0, save.stdout + save.stderr
    assert "baseline written" in save.stdout
    doc = json.loads(lab["saved_bytes"])
    assert doc["format"] == "perflab-baseline" and doc["profile"] == "gatedemo"
    raw = doc["raw"]["median{benchmark=counting_sort[n=10000]}"]
    assert len(raw) == 4 and all(len(p) >= 5 for p in raw)  # [gate] baseline_processes, not test.processes
    # calibrate = true (default): the rounds in reference units too, which the gate judges
    rel = doc["raw"]["relative{benchmark=counting_sort[n=10000]}"]
    assert [len(p) for p in rel] == [len(p) for p in raw]
    assert doc["machine"]["cores"] and doc["perflab_version"]


def test_plain_rerun_is_unchanged_and_exits_0(lab) -> None:
    same = lab["same"]
    assert same.returncode == 0, same.stdout + same.stderr
    run = json.loads((lab["root"] / "same.json").read_text())["runs"][0]
    rows = run["result"]["data"]["comparison"]["rows"]
    # seconds or reference units, whichever has the narrower spread on this data (core.compare)
    assert [r["key"].partition("{")[0] for r in rows] in (["median"], ["relative"])
    if rows[0]["verdict"] == "unchanged":
        assert "unchanged" in same.stdout and "regression gate passed" in same.stdout
    else:  # load so heavy that even a 100 % regression is not ruled out (or too few rounds fit): said, passed
        assert rows[0]["verdict"] == "unstable" and rows[0]["reason"]
        assert re.search(r"regression gate inconclusive( \(nothing judged\))?, passed", same.stdout)


def test_rerun_reports_parse_and_carry_the_verdicts(lab) -> None:
    root = lab["root"]
    suite = ET.parse(root / "same.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "gatedemo" and suite.get("failures") == "0"
    names = [tc.get("name") for tc in suite.iter("testcase")]
    assert "counting_sort[n=10000]" in names and "regression gate" in names
    assert any(n.startswith("median < 1s") for n in names)
    md = (root / "same.md").read_text()
    assert re.search(r"\| counting_sort\[n=10000\] \| (relative|median) \|", md)
    assert "unchanged" in md or "inconclusive" in md
    assert lab["summary"].read_text().strip() == md.strip()  # $GITHUB_STEP_SUMMARY got the same table


def test_slowdown_fails_names_the_benchmark_and_keeps_the_baseline(lab) -> None:
    slow, root = lab["slow"], lab["root"]
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "regression gate failed" in slow.stdout and "slower: counting_sort[n=10000]" in slow.stdout
    assert "baseline not written" in slow.stdout
    assert (root / "bl" / "gatedemo.json").read_bytes() == lab["saved_bytes"]  # a regression never becomes the norm
    suite = ET.parse(root / "slow.xml").getroot().find("testsuite")
    failure = next(tc for tc in suite.iter("testcase") if tc.get("name") == "counting_sort[n=10000]").find("failure")
    assert failure is not None and "slower" in failure.get("message") and "baseline" in failure.text


def test_compare_history_and_baseline_commands(lab) -> None:
    root, env = lab["root"], lab["env"]
    sessions = run_cli("sessions", "--profile", "gatedemo", cwd=root, env=env)
    assert sessions.returncode == 0
    cmp_ = run_cli("compare", "bl/gatedemo.json", "last", "--tolerance", "1", "--max-cv", "10", cwd=root, env=env)
    assert cmp_.returncode == 1 and "slower" in cmp_.stdout  # the last session is the slow one
    show = run_cli("baseline", "show", "gatedemo", "--baseline-dir", "bl", cwd=root, env=env)
    assert show.returncode == 0 and "median{benchmark=counting_sort[n=10000]}" in show.stdout
    # reference units, not seconds, for the calibrated rounds
    assert re.search(r"relative\{benchmark=counting_sort\[n=10000\]\}.*\d ref ", show.stdout), show.stdout
    hist = run_cli("history", "gatedemo", cwd=root, env=env)
    assert hist.returncode == 0 and "gatedemo: median across 3 sessions" in hist.stdout
    again = run_cli("baseline", "save", "last", "--baseline-dir", "other", cwd=root, env=env)
    assert again.returncode == 2 and "did not pass" in again.stderr


def test_import_real_pytest_benchmark_json(tmp_path: Path) -> None:
    (tmp_path / "test_b.py").write_text("def test_sum(benchmark):\n    benchmark(sum, range(1000))\n")
    files = []
    for i in range(2):
        out = tmp_path / f"run{i}.json"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_b.py",
                        "--benchmark-max-time=0.02", "--benchmark-save-data", f"--benchmark-json={out}"],
                       cwd=tmp_path, check=True, capture_output=True, timeout=120)
        files.append(str(out))
    r = run_cli("baseline", "import", *files, "--profile", "legacy", "--baseline-dir", "bl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "bl" / "legacy.json").read_text())
    assert doc["source"] == "pytest-benchmark" and not doc["summary_only"]
    assert len(doc["raw"]["median{benchmark=test_sum}"]) == 2


def test_ci_github_prints_a_workflow() -> None:
    import yaml

    r = run_cli("ci", "github", "--profiles", "profiles/sort.toml")
    assert r.returncode == 0
    wf = yaml.safe_load(r.stdout)
    steps = wf["jobs"]["perflab"]["steps"]
    run = next(s["run"] for s in steps if "perflab --headless" in str(s.get("run", "")))
    assert "profiles/sort.toml" in run and "--junit" in run
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in steps)


def test_threshold_breach_is_live_and_final(tmp_path: Path) -> None:
    from perflab.core.model import Notice
    from perflab.store.sessions import SessionStore

    (tmp_path / "t.toml").write_text(PROFILE.replace('name = "gatedemo"', 'name = "tight"')
                                     .replace('thresholds = ["median < 1s"]', 'thresholds = ["median < 1us"]')
                                     .replace("processes = 3", "processes = 2"))
    r = run_cli("--headless", "t.toml", "-q", "--store", "store", "--junit", "t.xml", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "threshold failed: median < 1us" in r.stdout
    with SessionStore(tmp_path / "store", readonly=True) as store:
        row = store.get("last")
        notices = [e for e in store.events(row.id) if isinstance(e, Notice) and e.code == "threshold.breach"]
    assert row.status.value == "failed"
    assert any(n.message.startswith("live threshold breach: median < 1us: bench.median") for n in notices)
    assert any(n.message.startswith("threshold breach: median < 1us") for n in notices)
    case = next(tc for tc in ET.parse(tmp_path / "t.xml").getroot().iter("testcase")
                if tc.get("name", "").startswith("median < 1us"))
    assert case.find("failure") is not None
