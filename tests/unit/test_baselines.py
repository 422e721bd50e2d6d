"""store.baselines: versioned JSON, atomic writes, refusal of bad files, pytest-benchmark import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perflab.core.model import Metric, Result, Status, labels
from perflab.store import baselines
from perflab.store.baselines import BaselineError

KEY = Metric("median", 0, "s", labels(benchmark="f[n=1]")).key()
RESULT = Result(Status.PASSED, metrics=(Metric("median", 2e-3, "s", labels(benchmark="f[n=1]")),),
                raw={KEY: ((1e-3, 2e-3, 3e-3), (2e-3, 2e-3, 2e-3))})


def make(profile: str = "sort") -> baselines.Baseline:
    return baselines.from_result(profile, "benchmark", RESULT, machine={"cpu": "X", "cores": 2},
                                 git={"commit": "abc123", "dirty": False}, session="s-1")


def test_roundtrip_keeps_raw_samples_machine_git_and_version(tmp_path: Path) -> None:
    path = baselines.write(make(), tmp_path / "b" / "sort.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "perflab-baseline" and doc["version"] == baselines.VERSION
    assert doc["git"]["commit"] == "abc123" and doc["machine"]["cpu"] == "X" and doc["perflab_version"]
    b = baselines.read(path, profile="sort")
    assert b.raw[KEY] == ((1e-3, 2e-3, 3e-3), (2e-3, 2e-3, 2e-3))
    assert b.metrics[0].key() == KEY and b.session == "s-1"
    assert [p.name for p in path.parent.iterdir()] == ["sort.json"]  # no temporary file left behind


def test_path_for_uses_the_profile_name(tmp_path: Path) -> None:
    assert baselines.path_for("sort", tmp_path) == tmp_path / "sort.json"
    assert baselines.path_for("a/b c", tmp_path).name == "a_b_c.json"


@pytest.mark.parametrize(("content", "needle"), [
    (b'{"format": "perflab-baseline", "version": 1, "profile": "sort", "raw": {"m": [[1.0, 2', "truncated"),
    (b"\x00\x01garbage", "corrupt"),
    (b'{"format": "perflab-baseline", "version": 99, "profile": "sort", "raw": {"m": [[1.0]]}}', "newer"),
    (b'{"format": "perflab-baseline", "version": "x", "profile": "sort"}', "unknown baseline format version"),
    (b'{"format": "perflab-baseline", "version": 1, "profile": "other", "raw": {"m": [[1.0]]}}',
     "profile 'other', not 'sort'"),
    (b'{"format": "perflab-baseline", "version": 1, "profile": "sort", "raw": {}}', "no raw samples"),
    (b'{"benchmarks": []}', "not a perflab baseline"),
    (b'{"format": "perflab-baseline", "version": 1, "profile": "sort", "raw": {"m": [["x"]]}}', "corrupt"),
])
def test_bad_files_are_refused_in_one_line_and_never_overwritten(tmp_path: Path, content: bytes,
                                                                 needle: str) -> None:
    path = tmp_path / "sort.json"
    path.write_bytes(content)
    with pytest.raises(BaselineError) as e:
        baselines.read(path, profile="sort")
    msg = str(e.value)
    assert needle in msg and "\n" not in msg and str(path) in msg
    if needle != "no raw samples":  # an empty-but-valid baseline of the same profile may be replaced
        with pytest.raises(BaselineError, match="refusing to overwrite"):
            baselines.write(make(), path)
        assert path.read_bytes() == content


def test_missing_file_and_a_run_without_raw_samples(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="no such baseline file"):
        baselines.read(tmp_path / "nope.json")
    with pytest.raises(BaselineError, match="no raw samples"):
        baselines.from_result("x", "benchmark", Result(Status.PASSED), machine={}, git=None, session=None)


def _pytest_benchmark_json(with_data: bool, offset: float = 0.0) -> dict:
    """The shape pytest-benchmark 4/5 writes with --benchmark-json (trimmed to the fields perflab reads)."""
    data = [1e-3 + offset + i * 1e-6 for i in range(20)]
    stats = {"min": min(data), "max": max(data), "mean": sum(data) / 20, "median": data[10], "rounds": 20}
    if with_data:
        stats["data"] = data
    return {"machine_info": {"node": "h", "python_version": "3.11.7", "python_implementation": "CPython",
                             "cpu": {"brand_raw": "X", "count": 2}},
            "commit_info": {"id": "deadbeef", "dirty": False, "branch": "main"},
            "benchmarks": [{"name": "test_sort[100]", "fullname": "t.py::test_sort[100]", "group": None,
                            "params": None, "stats": stats}],
            "datetime": "2026-11-01T10:00:00.000000", "version": "5.1.0"}


def test_import_pytest_benchmark_with_raw_data(tmp_path: Path) -> None:
    files = []
    for i in range(3):
        f = tmp_path / f"000{i}_run.json"
        f.write_text(json.dumps(_pytest_benchmark_json(True, i * 1e-6)))
        files.append(f)
    b = baselines.import_pytest_benchmark(files, "legacy")
    key = Metric("median", 0, "s", labels(benchmark="test_sort[100]")).key()
    assert len(b.raw[key]) == 3 and len(b.raw[key][0]) == 20
    assert not b.summary_only and b.source == "pytest-benchmark" and b.git["commit"] == "deadbeef"
    again = baselines.read(baselines.write(b, tmp_path / "legacy.json"), profile="legacy")
    assert again.raw == b.raw


def test_import_pytest_benchmark_without_raw_data_keeps_medians(tmp_path: Path) -> None:
    f = tmp_path / "run.json"
    f.write_text(json.dumps(_pytest_benchmark_json(False)))
    b = baselines.import_pytest_benchmark([f], "legacy")
    assert b.summary_only and list(b.raw.values())[0] == ((1e-3 + 10e-6,),)


def test_import_refuses_other_json(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"hello": 1}')
    with pytest.raises(BaselineError, match="not pytest-benchmark JSON"):
        baselines.import_pytest_benchmark([f], "legacy")
