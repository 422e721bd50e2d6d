"""The benchmark runner end to end through the CLI: real pytest-benchmark children, the store, the JSON."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from perflab.core.model import Status
from perflab.store.sessions import SessionStore
from tests.conftest import PROFILES, run_cli

SIZES = (100, 10_000, 100_000)


@pytest.fixture(scope="module", autouse=True)
def shipped_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Start one run of profiles/sort.toml exactly as shipped (3 processes) when the module starts; the
    short pytest-folder tests run meanwhile, and the tests that read it wait for it (saves ~30 s of wall)."""
    tmp = tmp_path_factory.mktemp("shipped")
    store = tmp / "store"
    proc = subprocess.Popen([sys.executable, "-m", "perflab", "--headless", str(PROFILES / "sort.toml"), "--store",
                             str(store), "--json", str(tmp / "r.json")], cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    state: dict[str, Any] = {"proc": proc, "store": store, "json": tmp / "r.json", "tmp": tmp}
    yield state
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture
def shipped(shipped_run: dict[str, Any]) -> dict[str, Any]:
    if "out" not in shipped_run:
        proc = shipped_run["proc"]
        stdout, stderr = proc.communicate(timeout=600)
        shipped_run["out"] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        m = re.search(r"^session (\S+)$", stdout, re.M)
        shipped_run["sid"] = m.group(1) if m else None
    return shipped_run


def medians(doc: dict[str, Any]) -> dict[str, float]:
    return {m["labels"]["benchmark"]: m["value"] for m in doc["runs"][0]["result"]["metrics"]
            if m["name"] == "median"}


# ------------------------------------------------------------------ pytest-folder targets

BENCH_TEST = '''
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_fib_small(benchmark):
    print("noise on stdout")
    assert benchmark(fib, 8) == 21


def test_fib_large(benchmark):
    assert benchmark(fib, 14) == 377
'''


def folder_profile(tmp: Path, tests: dict[str, str], processes: int = 2) -> Path:
    folder = tmp / "benches"
    folder.mkdir()
    for name, text in tests.items():
        (folder / name).write_text(textwrap.dedent(text))
    profile = tmp / "folder.toml"
    profile.write_text(f'name = "folder"\n[target]\npytest = "benches"\n[test]\ntype = "benchmark"\n'
                       f'processes = {processes}\nmax_time = "0.05s"\nmin_rounds = 3\nwarmup = false\n')
    return profile


def test_pytest_folder_target(tmp_path: Path) -> None:
    profile = folder_profile(tmp_path, {"test_fib.py": BENCH_TEST})
    out = run_cli("--headless", "folder.toml", "--store", "store", "--json", "r.json", "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    doc = json.loads((tmp_path / "r.json").read_text())
    med = medians(doc)
    assert set(med) == {"test_fib_small", "test_fib_large"}
    assert med["test_fib_small"] < med["test_fib_large"]  # fib(14) does ~60x the work of fib(8)
    assert all(len(v) == 2 for v in doc["runs"][0]["result"]["raw"].values())
    assert profile.exists()


def test_calibrate_false_measures_without_the_reference(tmp_path: Path) -> None:
    profile = folder_profile(tmp_path, {"test_fib.py": BENCH_TEST}, processes=1)
    profile.write_text(profile.read_text() + "calibrate = false\n")
    out = run_cli("--headless", "folder.toml", "--store", "store", "--json", "r.json", "-q", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    result = json.loads((tmp_path / "r.json").read_text())["runs"][0]["result"]
    assert sorted(result["raw"]) == ["median{benchmark=test_fib_large}", "median{benchmark=test_fib_small}"]
    assert not any(m["name"] == "relative" for m in result["metrics"])


def test_folder_without_benchmarks_exits_2(tmp_path: Path) -> None:
    folder_profile(tmp_path, {"test_plain.py": "def test_plain():\n    assert 1 + 1 == 2\n"}, processes=1)
    out = run_cli("--headless", "folder.toml", "--store", "store", "-q", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "benches: no benchmarks" in out.stdout + out.stderr


def test_empty_folder_exits_2(tmp_path: Path) -> None:
    folder_profile(tmp_path, {"conftest.py": ""}, processes=1)
    out = run_cli("--headless", "folder.toml", "--store", "store", "-q", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "benches: no benchmarks found" in out.stdout + out.stderr


def test_benchmark_that_raises_exits_3_with_its_error_line(tmp_path: Path) -> None:
    folder_profile(tmp_path, {"test_bad.py": """
        def broken():
            return {}["missing-key"]


        def test_broken(benchmark):
            benchmark(broken)
    """}, processes=1)
    out = run_cli("--headless", "folder.toml", "--store", "store", "-q", cwd=tmp_path)
    assert out.returncode == 3, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert "benchmark test failed: test_bad.py::test_broken" in text or "benches/test_bad.py::test_broken" in text
    assert "KeyError: 'missing-key'" in text
    assert "Traceback" not in out.stderr


def test_benchmark_file_that_does_not_import_exits_3_naming_it(tmp_path: Path) -> None:
    folder_profile(tmp_path, {"test_syntax.py": "def test_x(benchmark:\n    pass\n"}, processes=1)
    out = run_cli("--headless", "folder.toml", "--store", "store", "-q", cwd=tmp_path)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "pytest could not collect benches/test_syntax.py: SyntaxError" in out.stdout + out.stderr


# ------------------------------------------------------------------ the shipped profile (started at module setup)


def test_shipped_profile_prints_the_table_and_exits_0(shipped: dict[str, Any]) -> None:
    out = shipped["out"]
    assert out.returncode == 0, out.stderr[-2000:]
    for col in ("benchmark", "min", "median", "mean", "stdev", "p95", "rounds", "ops/s"):
        assert col in out.stdout
    for n in SIZES:
        assert f"counting_sort[n={n}]" in out.stdout and f"sorted[n={n}]" in out.stdout
    assert "ratio of medians" in out.stdout
    assert re.search(r"counting_sort (beats|does not beat) sorted", out.stdout)
    assert "sort: PASSED" in out.stdout
    assert shipped["sid"]


def test_shipped_numbers_are_plausible(shipped: dict[str, Any]) -> None:
    doc = json.loads(shipped["json"].read_text())
    assert doc["format"] == 2 and doc["runs"][0]["exit_code"] == 0
    med = medians(doc)
    # ordered by size in reference units (drift-free; counting_sort at n=100 and n=10,000 differ by only
    # ~1.5x, about as much as this VM's speed moves between benchmarks, so seconds can come out inverted)
    rel = {m["labels"]["benchmark"]: m["value"] for m in doc["runs"][0]["result"]["metrics"] if m["name"] == "relative"}
    for fn in ("counting_sort", "sorted"):
        assert 0 < rel[f"{fn}[n=100]"] < rel[f"{fn}[n=10000]"] < rel[f"{fn}[n=100000]"]
        assert med[f"{fn}[n=100]"] < med[f"{fn}[n=100000]"]
    # sorted() of 100,000 ints takes milliseconds, of 100 ints microseconds
    assert 1e-4 < med["sorted[n=100000]"] < 1.0
    assert med["sorted[n=100]"] < 1e-3
    ratios = [m for m in doc["runs"][0]["result"]["metrics"] if m["name"] == "ratio"]
    assert {r["labels"]["group"] for r in ratios} == {f"n={n}" for n in SIZES}
    for r in ratios:
        n = r["labels"]["group"]
        assert r["value"] == pytest.approx(med[f"counting_sort[{n}]"] / med[f"sorted[{n}]"])


def test_shipped_json_has_raw_rounds_from_each_process(shipped: dict[str, Any]) -> None:
    doc = json.loads(shipped["json"].read_text())
    raw = doc["runs"][0]["result"]["raw"]
    # per benchmark: the rounds in seconds, and (calibrate = true, the default) the same rounds in units of
    # the reference loop timed around each of them (runners/agents/reftimer.py)
    assert len(raw) == 2 * 2 * len(SIZES)
    for key, per_process in raw.items():
        assert key.startswith(("median{benchmark=", "relative{benchmark="))
        assert len(per_process) == 3, key
        assert all(len(rounds) >= 5 and all(v > 0 for v in rounds) for rounds in per_process)
        if key.startswith("relative"):
            seconds = raw["median" + key[len("relative"):]]
            assert [len(r) for r in per_process] == [len(r) for r in seconds]
            # a reference is about 50 µs: a round in reference units is thousands of times its seconds
            ratios = [rel / sec for rp, sp in zip(per_process, seconds, strict=True)
                      for rel, sec in zip(rp, sp, strict=True)]
            # (per round a reference can catch an interrupt: the median, not every round)
            assert all(r > 0 for r in ratios) and 1e3 < statistics.median(ratios) < 1e6, (min(ratios), max(ratios))
    relative = {m["labels"]["benchmark"] for m in doc["runs"][0]["result"]["metrics"] if m["name"] == "relative"}
    assert relative == set(medians(doc))


def test_shipped_session_is_stored_with_rounds_from_every_process(shipped: dict[str, Any]) -> None:
    with SessionStore(shipped["store"], readonly=True) as store:
        row = store.get(shipped["sid"])
        assert row.status == Status.PASSED and row.exit_code == 0
        assert row.profile == "sort" and row.test_type == "benchmark"
        assert row.profile_text == (PROFILES / "sort.toml").read_text()
        assert row.machine["cores"] and row.machine["python"]
        rounds = store.samples(row.id, "bench.round")
        by_process: dict[str, int] = {}
        for s in rounds:
            by_process[dict(s.labels)["process"]] = by_process.get(dict(s.labels)["process"], 0) + 1
        assert set(by_process) == {"1", "2", "3"}
        assert sum(by_process.values()) == sum(
            len(r) for k, rs in json.loads(shipped["json"].read_text())["runs"][0]["result"]["raw"].items()
            if k.startswith("median") for r in rs)
        assert store.samples(row.id, "proc.cpu"), "the process monitor sampled the children"
        kinds = [a.kind for a in store.artifacts(row.id)]
        assert kinds.count("pytest-benchmark-json") == 3
        for a in store.artifacts(row.id):
            assert json.loads(Path(a.path).read_text())["benchmarks"]


def test_sessions_lists_and_show_prints_it(shipped: dict[str, Any]) -> None:
    listed = run_cli("sessions", "--store", str(shipped["store"]), cwd=shipped["tmp"])
    assert listed.returncode == 0
    assert shipped["sid"] in listed.stdout and "passed" in listed.stdout
    shown = run_cli("show", shipped["sid"][-6:], "--store", str(shipped["store"]), cwd=shipped["tmp"])
    assert shown.returncode == 0, shown.stderr
    assert shipped["sid"] in shown.stdout
    assert "counting_sort[n=100000]" in shown.stdout
    assert "artifact (pytest-benchmark-json)" in shown.stdout
