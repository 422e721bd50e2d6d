"""Each documented exit code, from a real ``perflab`` process: 0 passed, 1 a threshold failed, 2 bad input,
3 the run errored, 4 perflab itself failed, 130 interrupted. CI tells a regression (1) from a perflab bug (4)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perflab.core.model import ExitCode, Status
from perflab.store.sessions import SessionStore
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

USERCODE = '''
import time


def square(n):
    return n * n


def broken(n):
    raise ValueError("the target is broken")


def slow(n):
    time.sleep(0.2)
    return n
'''


def profile(tmp: Path, func: str, extra: str = "") -> Path:
    (tmp / "usercode.py").write_text(USERCODE, encoding="utf-8")
    path = tmp / f"{func}.toml"
    path.write_text(f'name = "{func}"\n{extra}[target]\ncallable = "usercode:{func}"\nargs = [3]\n'
                    '[test]\ntype = "benchmark"\nprocesses = 1\nmax_time = "0.05s"\nwarmup = false\n'
                    'calibrate = false\n', encoding="utf-8")
    return path


def headless(tmp: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("--headless", str(path), "--store", str(tmp / "store"), "-q", cwd=tmp,
                   env={"PYTHONPATH": f"{tmp}:{REPO}"}, timeout=180)


def stored_exit_codes(tmp: Path) -> list[int | None]:
    with SessionStore(tmp / "store", readonly=True) as s:
        return [row.exit_code for row in s.sessions()]


def test_exit_0_when_the_profile_passes(tmp_path: Path) -> None:
    out = headless(tmp_path, profile(tmp_path, "square"))
    assert out.returncode == ExitCode.OK, out.stdout + out.stderr
    assert stored_exit_codes(tmp_path) == [0]


def test_exit_1_when_a_threshold_fails(tmp_path: Path) -> None:
    out = headless(tmp_path, profile(tmp_path, "square", 'thresholds = ["median < 1ns"]\n'))
    assert out.returncode == ExitCode.FAILED, out.stdout + out.stderr
    assert stored_exit_codes(tmp_path) == [1]


def test_exit_2_for_bad_input_and_nothing_runs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[target]\ncallable = "usercode:square"\n[test]\ntype = "benchmark"\nprocesses = "many"\n')
    out = headless(tmp_path, bad)
    assert out.returncode == ExitCode.BAD_INPUT, out.stdout + out.stderr
    assert "bad.toml" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "store").exists()


def test_exit_3_when_the_target_fails(tmp_path: Path) -> None:
    out = headless(tmp_path, profile(tmp_path, "broken"))
    assert out.returncode == ExitCode.RUNNER_ERROR, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert stored_exit_codes(tmp_path) == [3]


def test_exit_4_for_an_internal_error_with_the_traceback_in_a_log(tmp_path: Path) -> None:
    """A bug in perflab (here: the engine's runner lookup raising) is one line naming a log with the traceback,
    exit 4, never 1; the session it interrupted is stored as an error with exit code 4, not left running."""
    code = ("import sys\n"
            "import perflab.runners.framework.base as base\n"
            "def broken(test_type):\n"
            "    raise RuntimeError('simulated perflab bug')\n"
            "base.runner_for = broken\n"
            "from perflab.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    path = profile(tmp_path, "square")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}", "PERFLAB_STORE": str(tmp_path / "store")}
    out = subprocess.run([sys.executable, "-c", code, "--headless", str(path), "-q"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == ExitCode.INTERNAL_ERROR, out.stdout + out.stderr
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, out.stderr
    assert "internal error" in lines[0] and "RuntimeError: simulated perflab bug" in lines[0]
    log = Path(re.search(r"traceback: (\S+)$", lines[0]).group(1))  # type: ignore[union-attr]
    assert log.is_relative_to(tmp_path / "store" / "logs")
    assert "Traceback (most recent call last)" in log.read_text() and "simulated perflab bug" in log.read_text()
    with SessionStore(tmp_path / "store", readonly=True) as s:
        (row,) = s.sessions()
    assert row.status == Status.ERROR and row.exit_code == ExitCode.INTERNAL_ERROR


def test_exit_130_when_interrupted(tmp_path: Path) -> None:
    path = profile(tmp_path, "slow")
    path.write_text(path.read_text().replace('max_time = "0.05s"', 'max_time = "30s"\nmin_rounds = 100'))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}"}
    proc = subprocess.Popen([sys.executable, "-m", "perflab", "--headless", str(path), "--store",
                             str(tmp_path / "store"), "-q"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp_path / "store" / "perflab.db").exists():
            time.sleep(0.1)
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err
    assert stored_exit_codes(tmp_path) == [130]
