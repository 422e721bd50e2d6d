"""Faults around the cpu, memory and leak runners: each ends in one clear line, a documented exit code,
no orphan process and no target left stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from perflab.runners.framework.tools import find_tool
from tests.conftest import REPO, run_cli


def _write(tmp_path: Path, body: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _headless(tmp_path: Path, profile: Path, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    full = {"PERFLAB_STORE": str(tmp_path / "store"), **(env or {})}
    return run_cli("--headless", str(profile), cwd=tmp_path, env=full, timeout=120)


def _one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    text = out.stdout + out.stderr
    assert "Traceback" not in text, text
    return " ".join(text.split())  # rich wraps long lines


@pytest.mark.parametrize("test_type", ["cpu", "memory"])
def test_target_raises(tmp_path: Path, test_type: str) -> None:
    (tmp_path / "bad.py").write_text("import time\ntime.sleep(0.3)\nraise ValueError('boom in target')\n")
    prof = _write(tmp_path, f"""
        [target]
        script = "bad.py"
        [test]
        type = "{test_type}"
    """)
    out = _headless(tmp_path, prof)
    assert out.returncode == 3, out.stdout + out.stderr
    text = _one_line_error(out)
    assert "ERROR" in text and "exit code 1" in text and "ValueError: boom in target" in text


def test_leak_target_raises(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text("def f():\n    raise RuntimeError('leaky boom')\n")
    prof = _write(tmp_path, """
        [target]
        callable = "boom:f"
        [test]
        type = "leak"
        iterations = 10
    """)
    out = _headless(tmp_path, prof)
    assert out.returncode == 3
    assert "RuntimeError: leaky boom" in _one_line_error(out)


@pytest.mark.parametrize("test_type", ["cpu", "memory"])
def test_target_segfaults(tmp_path: Path, test_type: str) -> None:
    (tmp_path / "crash.py").write_text("import ctypes, time\ntime.sleep(0.3)\nctypes.string_at(0)\n")
    prof = _write(tmp_path, f"""
        [target]
        script = "crash.py"
        [test]
        type = "{test_type}"
    """)
    out = _headless(tmp_path, prof)
    assert out.returncode == 3
    assert "SIGSEGV" in _one_line_error(out)


def test_target_exits_at_once(tmp_path: Path) -> None:
    (tmp_path / "quick.py").write_text("pass\n")
    prof = _write(tmp_path, """
        [target]
        script = "quick.py"
        [test]
        type = "cpu"
    """)
    out = _headless(tmp_path, prof)
    assert out.returncode == 3
    text = _one_line_error(out)
    assert "exited before py-spy could take a sample" in text or "too few to profile" in text, text


def test_memray_missing(tmp_path: Path) -> None:
    prof = _write(tmp_path, f"""
        [target]
        callable = "perflab.demo.leaky:process_record"
        [test]
        type = "memory"
        iterations = 10
        memray = "{tmp_path}/no-such-memray"
    """)
    out = _headless(tmp_path, prof)
    assert out.returncode == 3
    assert "memray executable" in _one_line_error(out) and "not found (pip install memray)" in out.stdout + out.stderr


def _missing_pid() -> int:
    pid = 4_000_000
    while psutil.pid_exists(pid):
        pid -= 1
    return pid


def test_nonexistent_pid(tmp_path: Path) -> None:
    pid = _missing_pid()
    prof = _write(tmp_path, f"""
        [target]
        pid = {pid}
        [test]
        type = "cpu"
    """)
    out = _headless(tmp_path, prof)
    assert out.returncode == 2
    assert f"pid {pid}: no such process" in _one_line_error(out)


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists(), reason="needs root and setpriv")
def test_permission_denied_is_explained_before_py_spy_fails(tmp_path: Path) -> None:
    # a process of another user, and perflab without CAP_SYS_PTRACE (dropped from the bounding set)
    other = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "30"])
    try:
        time.sleep(0.2)
        prof = _write(tmp_path, f"""
            [target]
            pid = {other.pid}
            [test]
            type = "cpu"
        """)
        env = {**os.environ, "PERFLAB_STORE": str(tmp_path / "store")}
        start = time.monotonic()
        out = subprocess.run(["setpriv", "--bounding-set=-sys_ptrace", sys.executable, "-m", "perflab",
                              "--headless", str(prof)], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
        assert time.monotonic() - start < 10  # interpreter start included; the check itself is instant
        assert out.returncode == 3
        text = _one_line_error(out)
        assert f"permission denied: pid {other.pid} belongs to uid 65534" in text and "CAP_SYS_PTRACE" in text
        # and the prediction is right: py-spy itself is refused in the same situation
        pyspy = subprocess.run(["setpriv", "--bounding-set=-sys_ptrace", find_tool("py-spy") or "py-spy", "dump", "--pid",
                                str(other.pid)], capture_output=True, text=True, timeout=30)
        assert pyspy.returncode != 0 and "Permission denied" in pyspy.stdout + pyspy.stderr
    finally:
        other.kill()
        other.wait()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


@pytest.mark.parametrize(("test_type", "params", "artifacts"), [
    ("cpu", 'duration = "30s"\nrefresh = "1s"', ("flamegraph.svg", "profile.speedscope.json")),
    # py-spy pausing the target for each sample: Ctrl-C must not leave it stopped
    ("cpu", 'duration = "30s"\nrefresh = "1s"\nnonblocking = false', ("flamegraph.svg", "profile.speedscope.json")),
    ("memory", 'duration = "30s"', ("memray.bin", "memray-flamegraph.html")),
])
def test_ctrl_c_mid_profile(tmp_path: Path, test_type: str, params: str, artifacts: tuple[str, ...]) -> None:
    prof = _write(tmp_path, f"""
        [target]
        callable = "perflab.demo.busy:crunch"
        [test]
        type = "{test_type}"
        {params}
    """)
    env = {**os.environ, "PERFLAB_STORE": str(tmp_path / "store")}
    proc = subprocess.Popen([sys.executable, "-m", "perflab", "--headless", str(prof)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(3.5)
        seen = _descendants(proc.pid)
        assert seen, "the target should be running"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    folders = list((tmp_path / "store" / "artifacts").iterdir())
    assert len(folders) == 1
    for name in artifacts:
        assert (folders[0] / name).stat().st_size > 0, name
    time.sleep(0.2)
    for p in seen:  # no orphan and nothing left stopped
        try:
            status = p.status()
        except psutil.NoSuchProcess:
            continue
        assert status == psutil.STATUS_ZOMBIE, f"{p.pid} {p.cmdline()} still {status}"
    assert REPO.exists()
