"""Machine fingerprint and git state, as recorded with every session (real git, real /proc)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from perflab.core import machine


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.invalid")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def test_fingerprint_is_stable_and_complete() -> None:
    a, b = machine.fingerprint(), machine.fingerprint()
    assert a == b
    assert a["cores"] == os.cpu_count()
    assert a["python"] == platform.python_version()
    assert a["implementation"] == platform.python_implementation()
    assert a["cpu"] and a["os"].startswith(platform.system())
    assert machine.differences(a, b) == []
    assert machine.differences(a, {**a, "cores": 999}) == [f"cores: {a['cores']} vs 999"]


def test_git_commit_and_dirty_flag(tmp_path: Path) -> None:
    assert machine.git_info(tmp_path) is None  # not a repository
    git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("one\n")
    git(tmp_path, "add", "f.txt")
    git(tmp_path, "commit", "-q", "-m", "first")
    info = machine.git_info(tmp_path)
    assert info is not None
    assert info["commit"] == git(tmp_path, "rev-parse", "HEAD")
    assert info["dirty"] is False
    (tmp_path / "f.txt").write_text("two\n")
    assert machine.git_info(tmp_path)["dirty"] is True  # type: ignore[index]
