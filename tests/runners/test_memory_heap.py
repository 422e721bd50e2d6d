"""A memory run without memray's live mode draws the heap over time: ``mem.heap`` read from the capture while the
target runs (live), stored with the session, and replayed; the chart titles it as the heap, not RSS."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from perflab.core import profiles
from perflab.core.model import Event, Phase, Sample, Status
from perflab.lab import session as lab
from perflab.runners.agents.memray_heap import buckets

USERCODE = """
import time

_keep = []

def grow_and_shrink():
    _keep.append(bytearray(200_000))
    if len(_keep) > 60:  # about 12 MB at most, then half of it freed
        del _keep[:30]
    time.sleep(0.003)
"""

PROFILE = """
name = "heap"
timeout = "1m"

[target]
callable = "usercode:grow_and_shrink"

[test]
type = "memory"
duration = "3s"
"""


@pytest.mark.slow
def test_memory_run_without_live_mode_records_the_heap_over_time(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "usercode.py").write_text(textwrap.dedent(USERCODE), encoding="utf-8")
    (tmp_path / "p.toml").write_text(textwrap.dedent(PROFILE), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    seen: list[Event] = []

    class Collect:
        def handle(self, event: Event) -> None:
            seen.append(event)

    profile = profiles.load(tmp_path / "p.toml")
    assert not profile.test.params.get("live")
    outcome = asyncio.run(lab.run_session(profile, tmp_path / "store", [Collect()], workdir=tmp_path))
    assert outcome.result.status == Status.PASSED, outcome.result.message

    heap = [e for e in seen if isinstance(e, Sample) and e.series == "mem.heap"]
    assert len(heap) >= 15, len(heap)  # one point per 0.1 s of a 3 s run
    times = [e.t for e in heap]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert 0 < times[0] < times[-1] <= outcome.duration
    assert times[-1] - times[0] > 2.0
    values = [e.value for e in heap]
    assert max(values) > 8e6 and min(values[len(values) // 2:]) > 3e6  # the 200 KB blocks kept, then freed
    peak = outcome.result.metric("peak_memory")
    assert peak is not None and max(values) <= peak.value * 1.01  # memray's own peak bounds every snapshot
    # live: points came while the target ran, before the reports on the finished capture
    report = next(i for i, e in enumerate(seen) if isinstance(e, Phase) and e.name == "report")
    assert sum(1 for e in seen[:report] if isinstance(e, Sample) and e.series == "mem.heap") >= 5

    # stored and replayed: the replay's last snapshot has the heap curve the chart draws
    row, index = lab.load_replay(tmp_path / "store", outcome.session_id)
    snap = index.snapshot_at(row.duration or outcome.duration)
    stored = snap.find("mem.heap")
    assert stored and stored[0].count == len(heap) and len(stored[0].points) >= 15
    from perflab.widgets.chart import PlotBuilder  # the app's chart, as the run screen builds it

    text = PlotBuilder("memory", 100, 16).build(snap).plain
    assert "heap over time" in text and "RSS" not in text


def test_heap_buckets_keep_each_tenth_of_a_second_largest_and_hold_back_the_open_one() -> None:
    t0 = 1000.0
    heaps = [1, 5, 2, 2, 2, 2, 2, 2, 2, 2,  3, 3, 3, 3, 3, 3, 3, 3, 8, 3,  4, 4, 4, 4, 4, 4, 4, 4, 4, 4,  7, 1]
    snaps = [(t0 + 0.005 + 0.01 * i, float(h)) for i, h in enumerate(heaps)]  # 0.005 .. 0.315 s
    points, last = buckets(snaps, t0, 0.1, -(2**62), final=False)
    assert [(round(t, 3), h) for t, h in points] == [(0.015, 5.0), (0.185, 8.0), (0.205, 4.0)]
    assert last == 2  # 0.3-0.4 s is still being written: held back
    more = [*snaps, (t0 + 0.35, 9.0), (t0 + 0.41, 6.0)]
    points, last = buckets(more, t0, 0.1, last, final=True)
    assert [(round(t, 3), h) for t, h in points] == [(0.35, 9.0), (0.41, 6.0)] and last == 4
