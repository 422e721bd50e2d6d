"""The tools perflab launches are found beside the running interpreter, without an activated virtualenv.

Each test starts perflab the way cron, CI or an IDE does: the environment's own ``bin/perflab`` (or
``bin/python``) by absolute path, with PATH reduced to ``/usr/bin:/bin``, which holds none of py-spy, memray or
locust. Real tools, real processes; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import pytest

from perflab.runners.framework.process import Child
from tests.conftest import PROFILES, REPO

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent  # not resolved: a venv's python is a symlink to the base interpreter
PERFLAB = BIN / "perflab"
BARE_PATH = "/usr/bin:/bin"


def _bare_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": BARE_PATH, "HOME": str(home), "PERFLAB_STORE": str(tmp_path / "store")}


def _run(argv: list[str], profile: Path, tmp_path: Path,
         timeout: float = 180) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``ARGV --headless PROFILE`` from the repository with a bare environment; the first run's JSON result."""
    out = tmp_path / "out.json"
    proc = subprocess.run([*argv, "--headless", str(profile), "--store", str(tmp_path / "store"), "--no-baseline",
                           "--json", str(out)], env=_bare_env(tmp_path), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    doc = json.loads(out.read_text()) if out.exists() else {}
    return proc, (doc.get("runs") or [{}])[0].get("result", {})


@pytest.fixture
def perflab_script() -> str:
    if not PERFLAB.is_file():
        pytest.skip(f"no perflab console script beside this interpreter ({PERFLAB}): perflab is not installed "
                    "in this environment")
    return str(PERFLAB)


def _short_concurrency(tmp_path: Path) -> Path:
    """profiles/concurrency.toml's demo counter, locked twin (it passes), threads only, 0.3 s per level."""
    path = tmp_path / "concurrency.toml"
    path.write_text(textwrap.dedent("""
        name = "concurrency-short"
        timeout = "2m"
        [target]
        callable = "perflab.demo.counter:locked_increment"
        setup = "perflab.demo.counter:reset"
        invariant = "perflab.demo.counter:locked_invariant"
        [test]
        type = "concurrency"
        levels = [1, 2]
        workers = ["threads"]
        duration = "0.3s"
        gil = true
    """), encoding="utf-8")
    return path


def _gil_notes(result: dict[str, Any]) -> list[str]:
    return [n["text"] for n in result.get("notes", []) if n["text"].startswith("GIL wait not measured")]


@pytest.mark.parametrize("profile", ["cpu.toml", "memory.toml", "api.toml"])
def test_shipped_profile_runs_from_the_console_script_without_an_activated_venv(
        perflab_script: str, tmp_path: Path, profile: str) -> None:
    if profile == "cpu.toml" and not (BIN / "py-spy").exists():
        pytest.skip(f"py-spy is not installed in {BIN}")
    proc, result = _run([perflab_script], PROFILES / profile, tmp_path)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert "not installed" not in text
    assert result.get("status") == "passed", text


def test_concurrency_measures_the_gil_with_the_venvs_py_spy(perflab_script: str, tmp_path: Path) -> None:
    if not (BIN / "py-spy").exists():
        pytest.skip(f"py-spy is not installed in {BIN}")
    proc, result = _run([perflab_script], _short_concurrency(tmp_path), tmp_path)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    notes = _gil_notes(result)
    if any("ermission" in n or "ptrace" in n.lower() for n in notes):  # a container without ptrace rights
        pytest.skip(notes[0])
    assert not notes, notes
    assert "not installed" not in text
    assert any(m["name"] == "gil_wait" for m in result["metrics"]), result["metrics"]


def test_children_find_the_venvs_tools_by_bare_name(tmp_path: Path) -> None:
    """A child started with a bare PATH gets the scripts folder first, so what it starts finds the tools too."""
    if not (BIN / "py-spy").exists():
        pytest.skip(f"py-spy is not installed in {BIN}")
    lines: list[str] = []

    async def run() -> int:
        child = Child(["sh", "-c", 'echo "$PATH"; py-spy --version'], env={"PATH": BARE_PATH}, name="sh",
                      on_line=lambda stream, line: lines.append(line), side_channel=False)
        await child.start()
        return await child.wait(timeout=30)

    assert asyncio.run(run()) == 0, lines
    assert lines[0].split(os.pathsep)[0] == str(BIN)
    assert lines[0].endswith(BARE_PATH)  # the user's PATH is kept, only prepended to
    assert any(line.startswith("py-spy ") for line in lines), lines


@pytest.fixture
def venv_without_tools(tmp_path: Path) -> Path:
    """A second virtualenv sharing this one's packages but with an empty bin: python only, no py-spy."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("not running in a virtualenv: cannot build one that shares its packages")
    root = tmp_path / "bare-venv"
    (root / "bin").mkdir(parents=True)
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", root / "pyvenv.cfg")
    (root / "bin" / "python").symlink_to(sys.executable)
    site = root / Path(sysconfig.get_path("purelib")).relative_to(sys.prefix)
    site.parent.mkdir(parents=True)
    site.symlink_to(sysconfig.get_path("purelib"))
    if shutil.which("py-spy", path=BARE_PATH):
        pytest.skip(f"py-spy is installed in {BARE_PATH}, so it cannot be missing")
    return root / "bin" / "python"


def test_py_spy_missing_from_the_environment_and_path_is_one_clear_line(venv_without_tools: Path,
                                                                        tmp_path: Path) -> None:
    proc, _ = _run([str(venv_without_tools), "-m", "perflab"], PROFILES / "cpu.toml", tmp_path)
    text = " ".join((proc.stdout + proc.stderr).split())  # rich wraps long lines
    assert proc.returncode == 3, text
    assert "Traceback" not in text
    assert f"py-spy is not installed in {venv_without_tools.parent} or on PATH (pip install py-spy)" in text


def test_without_py_spy_the_gil_note_says_why(venv_without_tools: Path, tmp_path: Path) -> None:
    proc, result = _run([str(venv_without_tools), "-m", "perflab"], _short_concurrency(tmp_path), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _gil_notes(result) == ["GIL wait not measured: py-spy is not installed (pip install py-spy)"]
