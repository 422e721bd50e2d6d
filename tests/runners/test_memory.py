"""The memory runner on real memray: peak, totals, top allocators and the HTML reports."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from perflab.core import profiles
from perflab.core.model import Artifact, Status
from perflab.demo.leaky import PAYLOAD
from tests.conftest import PROFILES
from tests.runners.profiling_helpers import run_profile


def _mem(target: str, extra: str = "") -> str:
    return textwrap.dedent(f"""
        name = "memory-test"
        timeout = "90s"
        [target]
        {target}
        [test]
        type = "memory"
        {extra}
    """)


def test_callable_peak_top_allocator_and_reports(tmp_path: Path) -> None:
    outcome, sink = run_profile(_mem('callable = "perflab.demo.leaky:process_record"', "iterations = 2000"),
                                tmp_path)
    r = outcome.result
    assert r.status == Status.PASSED, r.message
    retained = 2000 * PAYLOAD  # the leaky cache holds every payload at the end: the peak is at least this
    peak = r.metric("peak_memory").value
    assert retained <= peak < retained * 1.6
    assert r.metric("total_allocated").value >= peak
    assert r.metric("allocations").value >= 2000
    top = r.data["top_allocators"][0]
    assert top["location"].startswith("_work:") and "leaky.py" in top["location"]
    assert not r.metric("run_time").comparable and not r.metric("calls_per_s").comparable
    arts = {a.kind: Path(a.path) for a in sink.of(Artifact)}
    assert {"memray", "memray-stats", "flamegraph", "memray-leaks"} <= set(arts)
    for kind in ("flamegraph", "memray-leaks"):
        html = arts[kind].read_text()
        assert "<html" in html.lower() and "leaky.py" in html
    assert json.loads(arts["memray-stats"].read_text())["total_num_allocations"] == r.metric("allocations").value


def test_script_with_args(tmp_path: Path) -> None:
    (tmp_path / "alloc.py").write_text(textwrap.dedent("""
        import sys
        blocks = [bytearray(1024 * 1024) for _ in range(int(sys.argv[1]))]
        print("held", len(blocks))
    """))
    outcome, _ = run_profile(_mem('script = "alloc.py"\nargs = ["12"]'), tmp_path)
    r = outcome.result
    assert r.status == Status.PASSED, r.message
    assert 12 * 2**20 <= r.metric("peak_memory").value < 20 * 2**20
    assert "alloc.py" in r.data["top_allocators"][0]["location"]


def test_python_command_target(tmp_path: Path) -> None:
    (tmp_path / "alloc.py").write_text("data = [bytes(2**20) for _ in range(6)]\n")
    outcome, _ = run_profile(_mem(f'command = ["{sys.executable}", "alloc.py"]'), tmp_path)
    assert outcome.result.status == Status.PASSED, outcome.result.message
    assert outcome.result.metric("peak_memory").value >= 6 * 2**20


def test_shipped_memory_profile_loads() -> None:
    p = profiles.load(PROFILES / "memory.toml")
    assert p.test.type == "memory" and p.test.params["iterations"] == 3000


def test_live_mode_streams_heap_and_top_allocators(tmp_path: Path) -> None:
    from perflab.core.model import Finished, Sample, Table

    (tmp_path / "grow.py").write_text(textwrap.dedent("""
        import time
        held = []
        for _ in range(16):
            held.append(bytearray(1 << 20))
            time.sleep(0.1)
    """))
    outcome, sink = run_profile(_mem('script = "grow.py"', 'live = true\ninterval = "0.3s"'), tmp_path)
    r = outcome.result
    assert r.status == Status.PASSED, r.message
    end = sink.of(Finished)[0].t
    heap = [e for e in sink.of(Sample) if e.series == "mem.heap" and e.t < end]
    assert len(heap) >= 3
    assert heap[-1].value > heap[0].value  # it grew while we watched
    tables = [e for e in sink.of(Table) if e.name == "top allocators (live heap)"]
    assert len(tables) >= 3 and any(t.rows and "grow.py:5" in t.rows[0][0] for t in tables)
    assert "grow.py:5" in r.tables[0].rows[0][0]  # the summary shows the heap at its largest
    # snapshots are periodic: the largest one seen is a lower bound of the true 16 MiB peak
    assert 8 * 2**20 <= r.metric("heap_peak_observed").value < 24 * 2**20
    assert not any(a.kind == "flamegraph" for a in sink.of(Artifact))  # live mode writes no capture
