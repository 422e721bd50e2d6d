from __future__ import annotations

import shutil
from pathlib import Path

import pytest

MINI = """name = "mini"
description = "a small copy of profiles/sort.toml"
timeout = "2m"
thresholds = []

[target]
callable = "perflab.demo.sorting:counting_sort"
input = "perflab.demo.sorting:random_ints"

[test]
type = "benchmark"
n = [100]
compare = ["builtins:sorted"]
processes = 1
max_time = "0.05s"
min_rounds = 3
warmup = false
"""

SLOW = MINI.replace('name = "mini"', 'name = "slow"').replace("n = [100]", "n = [100, 1000, 10000]") \
    .replace('max_time = "0.05s"', 'max_time = "5s"').replace("processes = 1", "processes = 3")


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with profiles/mini.toml and profiles/slow.toml and its own store; the cwd."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mini.toml").write_text(MINI)
    (tmp_path / "profiles" / "slow.toml").write_text(SLOW)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERFLAB_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("PERFLAB_BASELINES", raising=False)  # baselines/ under the folder
    yield tmp_path
    shutil.rmtree(tmp_path / "store", ignore_errors=True)
