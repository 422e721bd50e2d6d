"""The CPU runner on real py-spy: every target kind, the live table, the artifacts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import xml.dom.minidom
from pathlib import Path

import psutil
import pytest

from perflab.core import profiles
from perflab.core.model import Artifact, Finished, Status, Table
from tests.conftest import PROFILES, REPO
from tests.runners.profiling_helpers import run_profile


def _cpu(target: str, extra: str = "") -> str:
    return textwrap.dedent(f"""
        name = "cpu-test"
        timeout = "60s"
        [target]
        {target}
        [test]
        type = "cpu"
        refresh = "1s"
        {extra}
    """)


def test_callable_hottest_function_live_table_and_artifacts(tmp_path: Path) -> None:
    outcome, sink = run_profile(_cpu('callable = "perflab.demo.busy:crunch"', 'duration = "3s"'), tmp_path)
    r = outcome.result
    assert r.status == Status.PASSED, r.message
    assert r.data["top"][0]["function"] == "checksum"
    own = r.metric("own", function="checksum")
    assert own is not None and own.value > 0.5
    assert "checksum" in r.message and "%" in r.message
    # the live table came at least once a second or so while the target ran, before the end
    tables = [e for e in sink.of(Table) if e.name == "top functions"]
    finished = sink.of(Finished)[0]
    assert len(tables) >= 2 and all(t.t < finished.t for t in tables)
    gaps = [b.t - a.t for a, b in zip(tables, tables[1:], strict=False)]
    assert max(gaps) < 2.0
    assert tables[-1].rows[0][2] == "checksum"
    kinds = {a.kind: Path(a.path) for a in sink.of(Artifact)}
    assert {"flamegraph", "speedscope", "folded"} <= set(kinds)
    svg = xml.dom.minidom.parse(str(kinds["flamegraph"]))
    assert any("checksum" in (t.firstChild.data if t.firstChild else "") for t in svg.getElementsByTagName("title"))
    doc = json.loads(kinds["speedscope"].read_text())
    assert doc["profiles"][0]["type"] == "sampled"
    assert "checksum" in {f["name"] for f in doc["shared"]["frames"]}
    assert sum(doc["profiles"][0]["weights"]) == r.metric("samples").value
    assert r.metric("coverage").value > 0.5
    assert not r.metric("calls_per_s").comparable
    # the default samples without pausing the target (the live view's cost, README "Overhead")
    assert r.data["nonblocking"] is True
    assert any("target not paused to sample (nonblocking)" in n.text for n in r.notes)
    # one busy thread: the thread-share probe sees it active, and the bottleneck note carries the figures
    assert r.data["threads"]["idle_share"] < 0.5
    # CPU-bound on a quiet machine; on a saturated shared one the target may get too little CPU for the
    # rule to be sure (the rules themselves are unit-tested): never I/O, memory or idle
    label = r.data["bottleneck"]["target"]["label"]
    assert label in ("CPU-bound", "CPU-starved", "mixed (CPU and waiting)"), label
    assert any(n.kind == "bottleneck" and n.text.startswith(f"bottleneck (target): {label}: cpu ")
               and "idle threads" in n.text for n in r.notes)


@pytest.mark.parametrize("extra", ["nonblocking = false", "native = true"])
def test_blocking_sampling_when_asked_or_native(tmp_path: Path, extra: str) -> None:
    """``nonblocking = false`` pauses the target per sample; native frames need that (py-spy refuses
    ``--native --nonblocking``), so ``native = true`` samples blocking even though nonblocking is the default."""
    outcome, _ = run_profile(_cpu('callable = "perflab.demo.busy:crunch"', f'duration = "2s"\n{extra}'), tmp_path)
    r = outcome.result
    assert r.status == Status.PASSED, r.message
    assert r.data["nonblocking"] is False
    assert any("target paused for each sample" in n.text for n in r.notes)
    assert "checksum" in {f["function"] for f in r.data["top"]}


def test_script_with_args(tmp_path: Path) -> None:
    script = REPO / "perflab" / "demo" / "busy.py"
    target = f'script = "{script}"\nargs = ["2"]'
    outcome, sink = run_profile(_cpu(target), tmp_path)
    assert outcome.result.status == Status.PASSED, outcome.result.message
    assert outcome.result.data["top"][0]["function"] == "checksum"
    assert any("crunched" in e.line for e in sink.events if hasattr(e, "line"))  # the script ran to its end


def test_command_target(tmp_path: Path) -> None:
    target = f'command = ["{sys.executable}", "-m", "perflab.demo.busy", "2"]'
    outcome, _ = run_profile(_cpu(target), tmp_path)
    assert outcome.result.status == Status.PASSED, outcome.result.message
    assert outcome.result.data["top"][0]["function"] == "checksum"


def test_attach_to_running_pid_leaves_it_running(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "perflab.demo.busy", "30"], cwd=REPO)
    try:
        time.sleep(0.5)
        outcome, _ = run_profile(_cpu(f"pid = {proc.pid}", 'duration = "3s"'), tmp_path)
        assert outcome.result.status == Status.PASSED, outcome.result.message
        assert outcome.result.data["top"][0]["function"] == "checksum"
        assert 2.0 < outcome.result.metric("duration").value < 4
        time.sleep(0.2)
        assert proc.poll() is None  # still running
        assert psutil.Process(proc.pid).status() not in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
    finally:
        proc.kill()
        proc.wait()


def test_shipped_cpu_profile_loads() -> None:
    p = profiles.load(PROFILES / "cpu.toml")
    assert p.test.type == "cpu" and p.test.params["rate"] == 100


def test_load_profile_profiles_its_server(tmp_path: Path) -> None:
    """profile_cpu / profile_memory on a load profile: py-spy on the served demo app under load, memray too."""
    text = textwrap.dedent("""
        name = "api-profiled"
        timeout = "90s"
        [serve]
        command = "demo"
        args = ["--slow-delay", "0.01", "--cpu-ms", "3", "--fail-rate", "0"]
        [target]
        endpoints = [ { method = "GET", path = "/cpu", weight = 1 } ]
        [test]
        type = "load"
        users = 4
        duration = "3s"
        profile_cpu = true
        profile_memory = true
    """)
    outcome, sink = run_profile(text, tmp_path)
    r = outcome.result
    assert r.status == Status.PASSED, r.message
    # the demo's /cpu handler burns CPU in the event loop: it ranks among the server's hottest functions
    # (beside the event loop's select and, on a saturated machine, the server's parent-watch thread)
    top = r.data["server_cpu"]["top"]
    assert any(f["function"].endswith(".cpu") and f["own"] > 0.05 for f in top[:5]), top[:5]
    assert r.data["server_memory"]["peak_memory"] > 0
    kinds = {a.kind for a in sink.of(Artifact)}
    assert {"flamegraph", "speedscope", "memray", "memray-stats", "memray-leaks"} <= kinds
    # CPU samples of the server share the load test's time axis: they arrive while the load runs
    live = [e for e in sink.of(Table) if e.name == "top functions"]
    assert live and live[0].t < sink.of(Finished)[0].t
