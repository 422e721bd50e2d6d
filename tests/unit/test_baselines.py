"""store.baselines: versioned JSON, atomic writes, refusal of bad files, pytest-benchmark import."""

from __future__ import annotations

import json
import math
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


# ------------------------------------------------------------------ every field checked for its type

def _with(**over: object) -> dict[str, object]:
    doc = baselines.to_dict(make())
    doc.update(over)
    return doc


@pytest.mark.parametrize(("over", "field"), [
    ({"raw": "fast"}, '"raw"'),
    ({"raw": [[1.0]]}, '"raw"'),
    ({"raw": {KEY: "x"}}, f'"raw.{KEY}"'),
    ({"raw": {KEY: [1.0, 2.0]}}, f'"raw.{KEY}[0]"'),
    ({"raw": {KEY: [[1.0, True]]}}, f'"raw.{KEY}[0][1]"'),
    ({"raw": {KEY: [[1.0, float("nan")]]}}, f'"raw.{KEY}[0][1]"'),
    ({"raw": {KEY: [[1.0, 10**400]]}}, f'"raw.{KEY}[0][1]"'),
    ({"metrics": {"median": 1}}, '"metrics"'),
    ({"metrics": ["median"]}, '"metrics[0]"'),
    ({"metrics": [{"name": "median", "value": "1ms"}]}, '"metrics[0].value"'),
    ({"metrics": [{"name": 5, "value": 1.0}]}, '"metrics[0].name"'),
    ({"metrics": [{"name": "median", "value": 1.0, "labels": ["a"]}]}, '"metrics[0].labels"'),
    ({"metrics": [{"name": "median", "value": 1.0, "labels": {"n": 100}}]}, '"metrics[0].labels.n"'),
    ({"metrics": [{"name": "median", "value": 1.0, "comparable": "yes"}]}, '"metrics[0].comparable"'),
    ({"machine": ["x"]}, '"machine"'),
    ({"machine": {"cpu": {"brand": "x"}}}, '"machine.cpu"'),
    ({"git": "abc"}, '"git"'),
    ({"git": {"commit": 12345}}, '"git.commit"'),
    ({"created": "yesterday"}, '"created"'),
    ({"created": 1e300}, '"created"'),
    ({"created_utc": 5}, '"created_utc"'),
    ({"session": 7}, '"session"'),
    ({"source": None}, '"source"'),
    ({"summary_only": "no"}, '"summary_only"'),
    ({"test_type": ["benchmark"]}, '"test_type"'),
    ({"perflab_version": 1.0}, '"perflab_version"'),
    ({"profile": None}, '"profile"'),
])
def test_a_field_of_the_wrong_type_is_refused_naming_file_and_field(tmp_path: Path, over: dict[str, object],
                                                                    field: str) -> None:
    path = tmp_path / "sort.json"
    content = json.dumps(_with(**over)).encode()
    path.write_bytes(content)
    with pytest.raises(BaselineError) as e:
        baselines.read(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: corrupt field {field}: expected ") and "\n" not in msg
    assert msg.endswith("the file was left untouched")
    with pytest.raises(BaselineError, match="refusing to overwrite"):
        baselines.write(make(), path)
    assert path.read_bytes() == content


def test_optional_fields_may_be_absent_or_null(tmp_path: Path) -> None:
    path = tmp_path / "sort.json"
    doc = {"format": "perflab-baseline", "version": 1, "profile": "sort", "raw": {KEY: [[1.0, 2.0]]},
           "machine": None, "git": None, "metrics": None, "created": None, "session": None}
    path.write_text(json.dumps(doc))
    b = baselines.read(path, profile="sort")
    assert b.machine == {} and b.git is None and b.metrics == () and b.created == 0.0
    metrics = [{"name": "ratio", "value": float("nan"), "unit": ""}]  # an undefined metric is still a number
    path.write_text(json.dumps({**doc, "metrics": metrics}))
    assert math.isnan(baselines.read(path).metrics[0].value)


@pytest.mark.parametrize(("content", "needle"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"format": "perflab-baseline", "version": 1, "created": ' + b"1" * 5000 + b"}", "corrupt"),
], ids=["deep", "huge-integer"])
def test_hostile_json_is_refused_in_one_line(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "sort.json"
    path.write_bytes(content)
    with pytest.raises(BaselineError, match=needle) as e:
        baselines.read(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_long_profile_names_get_a_short_distinct_file_name(tmp_path: Path) -> None:
    a, b = baselines.path_for("é" * 300 + "a", tmp_path), baselines.path_for("é" * 300 + "b", tmp_path)
    assert a != b and len(a.name.encode()) <= 255 and len(b.name.encode()) <= 255
    assert baselines.write(make("é" * 300 + "a"), a).exists()


def test_folder_writability_is_checked_without_leaving_anything(tmp_path: Path) -> None:
    baselines.check_folder_writable(tmp_path)  # exists and writable
    baselines.check_folder_writable(tmp_path / "new" / "deeper")  # will be created
    assert [p.name for p in tmp_path.iterdir()] == []
    (tmp_path / "file").write_text("")
    with pytest.raises(BaselineError, match="the baseline folder is not a folder"):
        baselines.check_folder_writable(tmp_path / "file")
    with pytest.raises(BaselineError, match="cannot create the baseline folder: .* is not a folder"):
        baselines.check_folder_writable(tmp_path / "file" / "below")


@pytest.mark.parametrize("bench", [
    "x", {"name": "t", "stats": []}, {"name": ["t"], "stats": {"median": 1.0}},
    {"name": "t", "stats": {"median": "1ms"}}, {"name": "t", "stats": {"median": 1.0, "data": "x"}},
    {"name": "t", "stats": {"median": 1.0, "data": [1.0, None]}},
])
def test_import_refuses_malformed_benchmark_entries_in_one_line(tmp_path: Path, bench: object) -> None:
    f = tmp_path / "run.json"
    f.write_text(json.dumps({"benchmarks": [bench]}))
    with pytest.raises(BaselineError) as e:
        baselines.import_pytest_benchmark([f], "legacy")
    assert str(f) in str(e.value) and "\n" not in str(e.value)


def test_import_keeps_only_scalar_machine_and_git_facts(tmp_path: Path) -> None:
    doc = _pytest_benchmark_json(True)
    doc["machine_info"] = {"cpu": ["not", "a", "table"], "node": {"x": 1}, "python_version": "3.11"}
    doc["commit_info"] = {"id": ["deadbeef"], "dirty": False}
    f = tmp_path / "run.json"
    f.write_text(json.dumps(doc))
    b = baselines.import_pytest_benchmark([f], "legacy")
    assert b.machine["hostname"] is None and b.machine["python"] == "3.11" and b.git is None
    assert baselines.read(baselines.write(b, tmp_path / "legacy.json")).raw == b.raw  # readable as written
