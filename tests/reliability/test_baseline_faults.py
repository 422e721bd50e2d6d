"""Bad baselines and bad thresholds: one clear line, exit 2, nothing runs, the baseline file is untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

PROFILE = """\
name = "faulty"
{extra}
[target]
callable = "perflab.demo.sorting:counting_sort"
input = "perflab.demo.sorting:random_ints"

[test]
type = "benchmark"
n = [100]
processes = 2
max_time = "0.01s"
"""

GOOD_RAW = {"median{benchmark=counting_sort[n=100]}": [[0.001] * 10, [0.001] * 10]}


def _doc(**over: object) -> bytes:
    doc = {"format": "perflab-baseline", "version": 1, "profile": "faulty", "test_type": "benchmark",
           "metrics": [], "raw": GOOD_RAW, "machine": {}, "git": None}
    doc.update(over)
    return json.dumps(doc).encode()


CASES = {
    "corrupt": (b"\x89PNG\r\n\x1a\n not json at all", "corrupt"),
    "truncated": (_doc()[:-25], "truncated"),
    "newer-version": (_doc(version=7), "format version 7 is newer"),
    "unknown-version": (_doc(version="one"), "unknown baseline format version"),
    "other-profile": (_doc(profile="checkout"), "baseline of profile 'checkout', not 'faulty'"),
    "no-raw-samples": (_doc(raw={}), "has no raw samples"),
    "raw-is-a-string": (_doc(raw="fast"), 'corrupt field "raw"'),
    "labels-not-a-table": (_doc(metrics=[{"name": "median", "value": 1.0, "labels": ["n"]}]),
                           'corrupt field "metrics[0].labels"'),
}


def _setup(tmp_path: Path, content: bytes, extra: str = "") -> tuple[Path, Path]:
    prof = tmp_path / "faulty.toml"
    prof.write_text(PROFILE.format(extra=extra))
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / "faulty.json").write_bytes(content)
    return prof, folder


@pytest.mark.parametrize(("case", "mode"), [(c, []) for c in CASES] + [("corrupt", ["--update-baseline"])])
def test_bad_baseline_stops_before_running(tmp_path: Path, store_dir: Path, case: str, mode: list[str]) -> None:
    content, needle = CASES[case]
    prof, folder = _setup(tmp_path, content)
    r = run_cli("--headless", str(prof), "-q", "--baseline-dir", str(folder), *mode, cwd=tmp_path, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert needle in lines[0] and "faulty.json" in lines[0] and "Traceback" not in r.stderr
    assert (folder / "faulty.json").read_bytes() == content
    assert not (store_dir / "perflab.db").exists() or "PASSED" not in r.stdout  # nothing ran


@pytest.mark.parametrize("case", ["corrupt", "newer-version"])
def test_save_baseline_refuses_to_overwrite_a_bad_file(tmp_path: Path, store_dir: Path, case: str) -> None:
    content, _ = CASES[case]
    prof, folder = _setup(tmp_path, content)
    r = run_cli("--headless", str(prof), "-q", "--baseline-dir", str(folder), "--save-baseline", cwd=tmp_path,
                timeout=60)
    assert r.returncode == 2 and "refusing to overwrite" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert (folder / "faulty.json").read_bytes() == content


@pytest.mark.parametrize("case", ["truncated", "raw-is-a-string", "labels-not-a-table"])
def test_show_and_compare_refuse_bad_files(tmp_path: Path, store_dir: Path, case: str) -> None:
    content, needle = CASES[case]
    _, folder = _setup(tmp_path, content)
    path = str(folder / "faulty.json")
    for args in (("baseline", "show", path), ("compare", path, path)):
        r = run_cli(*args, cwd=tmp_path, timeout=60)
        assert r.returncode == 2 and needle in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert (folder / "faulty.json").read_bytes() == content


def test_threshold_naming_an_unknown_metric_is_a_profile_error(tmp_path: Path, store_dir: Path) -> None:
    content = _doc()
    prof, folder = _setup(tmp_path, content, extra='thresholds = ["rps >= 200"]')
    r = run_cli("--headless", str(prof), "-q", "--baseline-dir", str(folder), "--update-baseline", cwd=tmp_path,
                timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "thresholds[0]" in lines[0] and "no metric 'rps'" in lines[0]
    assert (folder / "faulty.json").read_bytes() == content


def test_threshold_with_a_bad_unit_points_at_the_token(tmp_path: Path, store_dir: Path) -> None:
    prof, _ = _setup(tmp_path, _doc(), extra='thresholds = ["median < 5mz"]')
    r = run_cli("--headless", str(prof), "-q", "--no-baseline", cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    assert 'faulty.toml:2: thresholds[0]: bad unit "mz" at column 11' in r.stderr


def test_strict_machine_refuses_a_baseline_from_another_machine(tmp_path: Path, store_dir: Path) -> None:
    content = _doc(machine={"cpu": "Imaginary 9000", "cores": 512, "python": "2.7.18"})
    prof, folder = _setup(tmp_path, content)
    r = run_cli("--headless", str(prof), "-q", "--baseline-dir", str(folder), "--strict-machine", cwd=tmp_path,
                timeout=60)
    assert r.returncode == 2 and "another machine" in r.stderr and "Imaginary 9000" in r.stderr
    assert (folder / "faulty.json").read_bytes() == content


def test_update_baseline_keeps_the_file_when_the_comparison_is_inconclusive(tmp_path: Path) -> None:
    """--update-baseline must not let a noisy (unstable) run become the reference."""
    from perflab.core import profiles
    from perflab.core.compare import compare
    from perflab.core.model import Level, Result, Status
    from perflab.lab.baselines import BaselinePolicy, Baselines

    prof, folder = _setup(tmp_path, _doc())
    profile = profiles.load(prof)
    plan = Baselines.prepare(BaselinePolicy(baseline_dir=str(folder), update=True), [profile])
    noisy = {"median{benchmark=counting_sort[n=100]}": [[0.001] * 10, [0.003] * 10]}
    comparison = compare(GOOD_RAW, noisy)
    decision = plan.after(profile, Result(Status.PASSED, raw=noisy), comparison, "s1", git={})
    assert decision is not None and decision.level == Level.WARNING and not decision.failed
    assert decision.message.startswith("baseline not updated")
    assert (folder / "faulty.json").read_bytes() == _doc()
    # without the unstable comparison the same run replaces it: the check above is the policy's doing
    written = plan.after(profile, Result(Status.PASSED, raw=noisy), None, "s1", git={})
    assert written is not None and written.message.startswith("baseline written")
    assert (folder / "faulty.json").read_bytes() != _doc()
