"""The bottleneck label on monitor summaries recorded from real runs (CPU-starved loop, memray capture writes),
CPU time over one window, and the run-queue counters of this very process."""

from __future__ import annotations

import time

from perflab.core.bottleneck import Bottleneck, classify, classify_result
from perflab.core.schedstat import RunQueue, covered, read

# `perflab --headless` summaries (result.data["monitor"]["target"]) recorded on a 2-vCPU VM:
# a CPU loop pinned to one core beside two other busy loops on that core (cpu profile, 3 s) ...
STARVED_LOOP = {"cpu_time": 1.17, "wall": 2.9635, "read_bytes": 0.0, "write_bytes": 0.0, "ctx_switches": 398.0,
                "peak_rss": 8871936, "first_rss": 8871936.0, "last_rss": 8871936.0, "ticks": 30.0,
                "run_time": 1.1539, "run_delay": 1.7292}
# ... and a script allocating for 2 s under memray (memory profile): 131 MB written, all of it memray's capture
MEMRAY_RUN = {"cpu_time": 1.64, "wall": 2.645, "read_bytes": 602112.0, "write_bytes": 131760128.0,
              "ctx_switches": 523.0, "peak_rss": 54272000, "first_rss": 18616320.0, "last_rss": 49078272.0,
              "ticks": 27.0, "run_time": 1.6128, "run_delay": 1.0735}


def test_recorded_starved_loop_is_cpu_starved() -> None:
    c = classify(STARVED_LOOP)
    assert c.label is Bottleneck.STARVED
    assert abs(c.evidence["run_delay_share"] - 1.7292 / (1.7292 + 1.1539)) < 1e-9
    text = c.describe()
    assert text.startswith("CPU-starved: cpu 0.39 cores over 3.0 s, waiting for a CPU 0.58 cores (60.0 % of ")
    assert "the machine is oversubscribed" in text


def test_waiting_that_is_not_run_queue_delay_is_not_starvation() -> None:
    # the same loop without run-queue delay: it got little CPU because it waited on something else
    quiet = {**STARVED_LOOP, "run_delay": 0.01}
    assert classify(quiet).label is Bottleneck.MIXED
    # heavy I/O and a short run-queue wait: I/O-bound
    io = {**STARVED_LOOP, "cpu_time": 0.3, "run_time": 0.3, "run_delay": 0.05, "read_bytes": 50e6}
    assert classify(io).label is Bottleneck.IO


def test_target_that_oversubscribes_the_machine_by_itself_is_cpu_bound() -> None:
    # four busy processes on two cores: they wait for each other, and the run is CPU-bound
    four = {**STARVED_LOOP, "cpu_time": 5.8, "run_time": 5.8, "run_delay": 5.9}
    assert classify(four, cores=2).label is Bottleneck.CPU


def test_recorded_memray_capture_writes_are_not_the_targets_io() -> None:
    # that run was also starved (a busy machine); without its run-queue figures the question is I/O alone
    run = {k: v for k, v in MEMRAY_RUN.items() if not k.startswith("run_")}
    assert classify(run, cores=2).label is Bottleneck.IO  # what counting memray's writes said
    data = {"monitor": {"target": run}, "profiler_io": {"target": "memray writes its capture"}}
    c = classify_result(data)
    assert c is not None and c.label is Bottleneck.MIXED
    assert c.evidence["io_rate"] == 602112.0 / 2.645  # reads still count
    assert "storage writes not counted: memray writes its capture" in c.describe()


def test_cpu_never_exceeds_the_machine() -> None:
    # CPU time of three processes over the window of one of them (9.9 s over 3.3 s) is capped at the machine
    c = classify({"cpu_time": 8.8, "wall": 3.3, "ticks": 33.0, "first_rss": 1e7, "last_rss": 1e7}, cores=2)
    assert c.evidence["cpu_cores"] == 2.0


def test_covered_adds_spans_one_after_another_not_side_by_side() -> None:
    assert covered([(0.0, 3.3), (3.4, 6.6), (6.7, 9.9)]) == 3.3 + 3.2 + 3.2
    assert covered([(0.0, 3.0), (1.0, 2.0), (2.5, 4.0)]) == 4.0
    assert covered([(5.0, 5.0), (2.0, 1.0)]) == 0.0


def test_run_queue_counts_this_process() -> None:
    import os

    assert read(f"/proc/{os.getpid()}/schedstat") is not None
    q = RunQueue()
    q.sample(os.getpid(), 1)
    end = time.thread_time() + 0.05
    while time.thread_time() < end:
        pass
    q.sample(os.getpid(), 1)
    assert q.available and q.run >= 0.04 and q.wait >= 0.0
    q.close()


def test_memory_that_was_freed_before_exit_still_counts_at_its_peak() -> None:
    # a script that grew from 13.5 to 298.7 MiB and freed most of it while the interpreter shut down
    mib = 1024 * 1024
    run = {"cpu_time": 0.5, "wall": 5.0, "ticks": 50.0, "first_rss": 13.5 * mib, "peak_rss": 298.7 * mib,
           "last_rss": 20.0 * mib}
    c = classify(run, cores=2)
    assert c.label is Bottleneck.MEMORY
    assert "at its peak" in c.reason
