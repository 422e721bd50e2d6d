"""The built wheel, installed alone in a fresh virtualenv, imports every module of perflab and carries every
file of the package: a dependency missing from pyproject.toml or a data file left out of the wheel (the app's
.tcss, the scaffold templates) fails here, because nothing of the source tree is on the path.

CI builds the wheel with ``python -m build`` and passes it in ``PERFLAB_WHEEL``; without it the test builds one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

PROBE = r"""
import importlib, json, os, pkgutil, sys
import perflab
root = os.path.dirname(perflab.__file__)
failed = {}
names = [m.name for m in pkgutil.walk_packages(perflab.__path__, "perflab.")]
for name in names:
    if name == "perflab.__main__":  # runs the CLI when imported
        continue
    try:
        importlib.import_module(name)
    except BaseException as e:
        failed[name] = f"{type(e).__name__}: {e}"
files = sorted(os.path.relpath(os.path.join(d, f), os.path.dirname(root)).replace(os.sep, "/")
               for d, _, fs in os.walk(root) for f in fs if not f.endswith(".pyc"))
print(json.dumps({"root": root, "modules": names, "failed": failed, "files": files}))
"""


def wheel_path(tmp: Path) -> Path:
    given = os.environ.get("PERFLAB_WHEEL")
    if given:
        return Path(given)
    out = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
                   check=True, timeout=300)
    (whl,) = out.glob("perflab-*.whl")
    return whl


def test_installed_wheel_imports_every_module_and_carries_every_file(tmp_path: Path) -> None:
    whl = wheel_path(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py, perflab = env_dir / "bin" / "python", env_dir / "bin" / "perflab"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    constraints = REPO / "constraints.txt"
    if constraints.exists():
        env["PIP_CONSTRAINT"] = str(constraints)
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(whl)], env=env, check=True, timeout=600)

    work = tmp_path / "elsewhere"  # not the source tree: only the installed wheel can be imported
    work.mkdir()
    probe = subprocess.run([str(py), "-c", PROBE], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert Path(report["root"]).is_relative_to(env_dir), report["root"]
    assert not report["failed"], report["failed"]
    assert len(report["modules"]) > 50

    tracked = subprocess.run(["git", "ls-files", "perflab"], cwd=REPO, capture_output=True, text=True, check=True)
    shipped = {f for f in tracked.stdout.split() if (REPO / f).exists()}
    assert "perflab/perflab.tcss" in shipped
    assert not shipped - set(report["files"]), f"left out of the wheel: {sorted(shipped - set(report['files']))}"

    help_ = subprocess.run([str(perflab), "--help"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert help_.returncode == 0 and "commands" in help_.stdout, help_.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    init = subprocess.run([str(perflab), "init", "--dry-run"], cwd=empty, env=env, capture_output=True, text=True,
                          timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    assert ".github/workflows/perflab.yml" in init.stdout
    assert list(empty.iterdir()) == []  # a dry run writes nothing
