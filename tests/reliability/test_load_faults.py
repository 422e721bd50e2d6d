"""Load test faults: a server that never gets ready or dies, bad locustfiles, a busy port, a crashing worker,
SIGTERM mid-run. Each ends in one clear line, a documented exit code and no process left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from perflab.store.sessions import SessionStore
from tests.conftest import REPO, command_line, run_cli

pytestmark = pytest.mark.slow

SLEEPER = f'command = ["{sys.executable}", "-c", "import time; time.sleep(60)"]'


def _marked(mark: str) -> list[psutil.Process]:
    """Processes whose environment carries this test's marker (perflab and everything it started)."""
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("PERFLAB_TEST_MARK") == mark and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.Error:
            pass
    return out


def _run(tmp_path: Path, store_dir: Path, text: str, *files: tuple[str, str]):
    for name, body in files:
        (tmp_path / name).write_text(body)
    (tmp_path / "p.toml").write_text(text)
    mark = uuid.uuid4().hex
    proc = run_cli("--headless", "-q", str(tmp_path / "p.toml"), cwd=tmp_path, timeout=120,
                   env={"PERFLAB_STORE": str(store_dir), "PERFLAB_TEST_MARK": mark})
    assert _marked(mark) == [], "orphan processes left behind"
    return proc, proc.stdout + proc.stderr


LOAD = """
[test]
type = "load"
users = 4
duration = "{duration}"
"""


def test_server_never_ready(tmp_path: Path, store_dir: Path) -> None:
    text = f'name = "x"\n[serve]\n{SLEEPER}\nready_timeout = "1s"\n[target]\nurl = "http://127.0.0.1:9/fast"\n'
    proc, out = _run(tmp_path, store_dir, text + LOAD.format(duration="2s"))
    assert proc.returncode == 3, out
    assert "did not become ready" in out and "within 1 s" in out


def test_server_exits_before_ready_shows_its_stderr(tmp_path: Path, store_dir: Path) -> None:
    cmd = f'command = ["{sys.executable}", "-c", "import sys; sys.exit(\'cannot open config.yaml\')"]'
    text = f'name = "x"\n[serve]\n{cmd}\n[target]\nendpoints = [{{ path = "/" }}]\n'
    proc, out = _run(tmp_path, store_dir, text + LOAD.format(duration="2s"))
    assert proc.returncode == 3, out
    assert "exited before it was ready" in out and "cannot open config.yaml" in out


DYING = """
import os, sys, threading, time
import uvicorn
from perflab.demo.httpapp import build_app

def die():
    time.sleep(2.0)
    print("fatal: out of widgets", file=sys.stderr, flush=True)
    os._exit(7)

threading.Thread(target=die, daemon=True).start()
uvicorn.run(build_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def test_server_dies_mid_test(tmp_path: Path, store_dir: Path) -> None:
    text = (f'name = "x"\n[serve]\ncommand = ["{sys.executable}", "dying.py", "{{port}}"]\n'
            '[target]\nendpoints = [{ path = "/fast" }]\n')
    proc, out = _run(tmp_path, store_dir, text + LOAD.format(duration="20s"), ("dying.py", DYING))
    assert proc.returncode == 3, out
    assert "died during the test" in out and "out of widgets" in out and "exit code 7" in out
    row = SessionStore(store_dir).sessions()[0]
    assert row.status == "error"
    assert row.duration is not None and row.duration < 15  # noticed at once, not at the end of the 20 s


def test_locustfile_syntax_error_is_bad_input(tmp_path: Path, store_dir: Path) -> None:
    text = 'name = "x"\n[target]\nlocustfile = "lf.py"\nhost = "http://127.0.0.1:9"\n'
    proc, out = _run(tmp_path, store_dir, text + LOAD.format(duration="2s"),
                     ("lf.py", "from locust import HttpUser\nclass U(HttpUser)\n    pass\n"))
    assert proc.returncode == 2, out
    assert "lf.py: Locust could not load it: SyntaxError" in out


def test_locustfile_without_user_class_is_bad_input(tmp_path: Path, store_dir: Path) -> None:
    text = 'name = "x"\n[target]\nlocustfile = "lf.py"\nhost = "http://127.0.0.1:9"\n'
    proc, out = _run(tmp_path, store_dir, text + LOAD.format(duration="2s"), ("lf.py", "import os\n"))
    assert proc.returncode == 2, out
    assert "No User class found" in out
    assert "Traceback" not in out


def test_serve_port_in_use(tmp_path: Path, store_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        text = f'name = "x"\n[serve]\ncommand = "demo"\nport = {port}\n[target]\nendpoints = [{{ path = "/" }}]\n'
        proc, out = _run(tmp_path, store_dir, text + LOAD.format(duration="2s"))
    assert proc.returncode == 2, out
    assert f"serve.port: port {port} on 127.0.0.1 is already in use" in out


DISTRIBUTED = """
name = "dist"
[serve]
command = "demo"
[target]
endpoints = [{ path = "/fast" }]
[test]
type = "load"
users = 4
duration = "DURATION"
workers = 2
"""


def _start(tmp_path: Path, store_dir: Path, duration: str) -> tuple[subprocess.Popen[str], str]:
    (tmp_path / "p.toml").write_text(DISTRIBUTED.replace("DURATION", duration))
    mark = uuid.uuid4().hex
    env = {**os.environ, "PERFLAB_STORE": str(store_dir), "PERFLAB_TEST_MARK": mark}
    proc = subprocess.Popen([sys.executable, "-m", "perflab", "--headless", "-q", str(tmp_path / "p.toml")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, mark


def _wait_for(mark: str, predicate, timeout: float = 30.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = _marked(mark)
        if predicate(procs):
            return procs
        time.sleep(0.2)
    raise AssertionError(f"processes never matched: {[p.cmdline()[-4:] for p in _marked(mark)]}")


def _finish(proc: subprocess.Popen[str]) -> None:
    """On a failed assertion, stop perflab with SIGTERM so it reaps its server and Locust (SIGKILL cannot)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _workers(procs: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if "--worker" in p.cmdline()]


def test_sigterm_mid_run_leaves_no_process(tmp_path: Path, store_dir: Path) -> None:
    proc, mark = _start(tmp_path, store_dir, "60s")
    try:
        # perflab + server + Locust master + 2 workers, all running
        procs = _wait_for(mark, lambda ps: len(_workers(ps)) == 2 and len(ps) >= 5)
        assert any("perflab.demo.httpapp" in command_line(p) for p in procs)
        time.sleep(1.5)  # load is flowing
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        _finish(proc)
    assert proc.returncode == 130, out
    assert _marked(mark) == [], "master, workers or server survived SIGTERM"
    assert SessionStore(store_dir).sessions()[0].status == "interrupted"


def _loading(procs: list[psutil.Process]) -> bool:
    """Both workers hold connections to the server's port: the load is flowing."""
    ports = set()
    for p in procs:
        if "perflab.demo.httpapp" in command_line(p):
            ports |= {c.laddr.port for c in p.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    workers = _workers(procs)
    return len(workers) == 2 and bool(ports) and all(
        any(c.raddr and c.raddr.port in ports for c in w.net_connections("tcp")) for w in workers)


def test_worker_crash_is_reported_and_the_run_continues(tmp_path: Path, store_dir: Path) -> None:
    proc, mark = _start(tmp_path, store_dir, "4s")
    try:
        procs = _wait_for(mark, _loading)
        _workers(procs)[0].kill()
        out, _ = proc.communicate(timeout=60)
    finally:
        _finish(proc)
    assert proc.returncode == 0, out
    assert "exited mid-run (killed by SIGKILL)" in out and "continues with 1 worker" in out
    assert _marked(mark) == []


def test_server_dies_during_a_stress_search(tmp_path: Path, store_dir: Path) -> None:
    text = (f'name = "x"\n[serve]\ncommand = ["{sys.executable}", "dying.py", "{{port}}"]\n'
            '[target]\nendpoints = [{ path = "/fast" }]\n'
            '[test]\ntype = "stress"\nstart_users = 2\nstep_users = 2\nmax_users = 40\nstep_duration = "2s"\n')
    proc, out = _run(tmp_path, store_dir, text, ("dying.py", DYING))
    assert proc.returncode == 3, out
    assert "died during the test" in out and "out of widgets" in out
    assert SessionStore(store_dir).sessions()[0].status == "error"


def test_bad_stress_objective_is_bad_input(tmp_path: Path, store_dir: Path) -> None:
    text = ('name = "x"\n[serve]\ncommand = "demo"\n[target]\nendpoints = [{ path = "/fast" }]\n'
            '[test]\ntype = "stress"\nslo = ["p95 < 5%"]\n')
    proc, out = _run(tmp_path, store_dir, text)
    assert proc.returncode == 2, out
    assert 'test.slo[0]' in out or "duration unit" in out
