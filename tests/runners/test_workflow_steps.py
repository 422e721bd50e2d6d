"""The workflow `perflab init` writes, run as a runner would: every `run:` step, in order, by bash, in a fresh
virtualenv that only the workflow's own Install step fills, perflab included through its default requirement
(this checkout, since the perflab under test was installed from it). `uses:` steps are GitHub's actions."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from perflab.scaffold import workflow
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "proj"
version = "0.1.0"

[tool.setuptools]
packages = ["pkg"]
"""


def _sudo(tmp_path: Path) -> str:
    """A PATH entry that gives the steps GitHub's passwordless ``sudo``: "" when this machine has sudo; as root
    without it, a ``sudo`` that runs its command as is (what sudo does for root); else the test cannot run the
    Install valgrind step as a runner would, and is skipped saying so."""
    if shutil.which("sudo"):
        return ""
    if os.geteuid() != 0:
        pytest.skip("no sudo and not root: the workflow's `sudo apt-get install -y valgrind` cannot run here")
    shim = tmp_path / "sudo-shim"
    shim.mkdir()
    (shim / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (shim / "sudo").chmod(0o755)
    return f"{shim}{os.pathsep}"


def _step_env(venv: Path, tmp_path: Path) -> dict[str, str]:
    """The runner's environment: the fresh venv's bin first on PATH, nothing of this test run's Python."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PERFLAB_STORE", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{_sudo(tmp_path)}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               CI="true", GITHUB_STEP_SUMMARY=str(tmp_path / "step-summary.md"))
    constraints = REPO / "constraints.txt"
    if constraints.is_file():  # pins the versions pip would resolve anyway; with pip's cache, no downloads
        env["PIP_CONSTRAINT"] = str(constraints)
    return env


def test_every_run_step_of_the_init_workflow_passes_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    start = time.monotonic()
    project = tmp_path / "proj"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "__init__.py").write_text("def double(n: int) -> int:\n    return 2 * n\n")
    (project / "pyproject.toml").write_text(PYPROJECT)  # the Install step's `pip install -e .` runs too

    r = run_cli("init", cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    requirement = workflow.install_requirement()  # what the `perflab init` subprocess used: same interpreter
    assert bool(workflow.local_warning(requirement)) == (r.stderr.count("cannot reach") == 1)
    assert (project / "profiles" / "load" / "locust.toml").is_file()  # present, and the gate must skip it

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    env = _step_env(venv, tmp_path)
    steps = yaml.safe_load((project / ".github/workflows/perflab.yml").read_text())["jobs"]["perflab"]["steps"]
    install = next(s["run"] for s in steps if s.get("name") == "Install")
    assert shlex.quote(requirement) in install  # the default requirement, not a name no index serves

    timings = []
    for step in steps:
        if "run" not in step:
            assert "uses" in step  # checkout, setup-python, upload-artifact: GitHub's, not ours to run
            continue
        t0 = time.monotonic()
        # GitHub runs `run:` with `bash --noprofile --norc -eo pipefail` when `shell: bash` is named
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=project,
                           env=env, capture_output=True, text=True, timeout=240)
        timings.append(f"{step['name']}: {time.monotonic() - t0:.1f} s")
        assert r.returncode == 0, f"{step['name']}\n{r.stdout[-4000:]}\n{r.stderr[-3000:]}"
        if step["name"] == "Install":  # from here on `perflab` and `python` are the fresh venv's
            assert (venv / "bin" / "perflab").is_file()
        if step["name"] == "Install valgrind":  # installed, or already there (the case on this machine)
            assert shutil.which("valgrind", path=env["PATH"]), r.stdout[-2000:] + r.stderr[-2000:]

    results = json.loads((project / ".perflab" / "results.json").read_text())
    assert [run["profile"] for run in results["runs"]] == ["example-benchmarks"]  # profiles/load/ not run
    assert results["runs"][0]["exit_code"] == 0
    # the example gates on instruction counts, which a shared runner's load does not move
    run = results["runs"][0]
    assert any(m["name"] == "instructions" for m in run["result"]["metrics"]), list(run["result"])
    assert "<testsuite" in (project / ".perflab" / "junit.xml").read_text()
    assert (project / ".perflab" / "summary.md").read_text().strip()
    assert (tmp_path / "step-summary.md").read_text().strip()
    total = time.monotonic() - start
    print(f"workflow steps in a fresh venv: {', '.join(timings)}; whole test {total:.1f} s")
    assert total < 240, timings
