"""Tool lookup (runners/framework/tools.py): the running interpreter's scripts folder first, then PATH."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from perflab.core.model import ExitCode, ToolError
from perflab.runners.framework import tools

TOOL = "perflab-fake-tool"  # a name no real environment holds


def _executable(folder: Path, name: str = TOOL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def env_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake environment's bin folder holding the running interpreter; PATH is an empty folder."""
    bin_dir = tmp_path / "venv" / "bin"
    python = _executable(bin_dir, "python")
    monkeypatch.setattr(sys, "executable", str(python))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return bin_dir


def test_tool_beside_the_interpreter_is_found_without_path(env_bin: Path) -> None:
    tool = _executable(env_bin)
    assert tools.scripts_dirs()[0] == str(env_bin)
    assert tools.find_tool(TOOL) == str(tool)
    assert tools.require_tool(TOOL, "pip install it") == str(tool)


def test_interpreter_folder_wins_over_path(env_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = _executable(env_bin)
    _executable(tmp_path / "elsewhere")
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert tools.find_tool(TOOL) == str(mine)


def test_symlinked_interpreter_is_not_resolved(env_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A venv's python is a symlink to the base interpreter: the venv's folder is the one searched."""
    base = tmp_path / "base" / "bin"
    real = _executable(base, "python3")
    link = tmp_path / "venv2" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    tool = _executable(link.parent)
    monkeypatch.setattr(sys, "executable", str(link))
    assert tools.scripts_dirs()[0] == str(link.parent)
    assert tools.find_tool(TOOL) == str(tool)


def test_path_is_used_when_the_interpreter_folder_lacks_the_tool(env_bin: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = _executable(tmp_path / "elsewhere")
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert tools.find_tool(TOOL) == str(on_path)


def test_missing_tool_is_a_tool_error_with_the_hint(env_bin: Path) -> None:
    assert tools.find_tool(TOOL) is None
    with pytest.raises(ToolError) as info:
        tools.require_tool(TOOL, "pip install perflab-fake-tool")
    err = info.value
    assert err.exit_code == ExitCode.RUNNER_ERROR == 3
    text = str(err)
    assert "\n" not in text
    assert text.startswith(f"{TOOL} is not installed in {env_bin}")
    assert "or on PATH (pip install perflab-fake-tool)" in text


def test_a_path_is_taken_as_given(env_bin: Path, tmp_path: Path) -> None:
    tool = _executable(tmp_path / "custom")
    assert tools.find_tool(str(tool)) == str(tool)
    assert tools.find_tool(str(tmp_path / "custom" / "missing")) is None
    (tmp_path / "custom" / "plain").write_text("not executable")
    assert tools.find_tool(str(tmp_path / "custom" / "plain")) is None


def test_child_path_prepends_the_scripts_folders_once(env_bin: Path) -> None:
    dirs = tools.scripts_dirs()
    user = os.pathsep.join(["/usr/local/bin", str(env_bin), "/usr/bin", "/bin"])
    got = tools.child_path(user).split(os.pathsep)
    assert got[:len(dirs)] == dirs
    assert got[len(dirs):] == ["/usr/local/bin", "/usr/bin", "/bin"]  # the user's order is kept
    assert got.count(str(env_bin)) == 1
    assert tools.child_path(tools.child_path(user)) == tools.child_path(user)


def test_child_path_without_a_path_keeps_the_default_search_path(env_bin: Path) -> None:
    got = tools.child_path(None).split(os.pathsep)
    assert got[0] == str(env_bin)
    assert [p for p in os.defpath.split(os.pathsep) if p not in tools.scripts_dirs()] == \
        got[len(tools.scripts_dirs()):]


def test_runner_child_env_puts_the_scripts_folders_first(env_bin: Path, tmp_path: Path) -> None:
    from perflab.runners.framework.child import child_env

    env = child_env(tmp_path, {"PATH": "/opt/tools:/usr/bin"})
    assert env["PATH"].split(os.pathsep) == [*tools.scripts_dirs(), "/opt/tools", "/usr/bin"]
