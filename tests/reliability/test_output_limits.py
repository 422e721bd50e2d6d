"""Limits a run honours: the target's output stored per session (head and tail, the rest counted), and the
profile's timeout (the whole tree stopped within a second of it, exit 3)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from perflab.runners.framework.output import MAX_LINE, SessionLog
from perflab.store.sessions import SessionStore
from tests.conftest import REPO

# ------------------------------------------------------------------ the budget itself (no subprocess)


def _log(limit: int) -> tuple[SessionLog, list[tuple[str, str, str]]]:
    got: list[tuple[str, str, str]] = []
    return SessionLog(lambda src, stream, line: got.append((src, stream, line)), limit), got


def test_small_output_is_kept_whole_and_in_order() -> None:
    log, got = _log(1 << 20)
    log.feed("target", "stdout", b"a\nb")
    log.feed("target", "stderr", b"c")
    assert log.flush() is None
    assert got == [("target", "stdout", "a"), ("target", "stdout", "b"), ("target", "stderr", "c")]


def test_head_and_tail_are_kept_and_the_middle_counted() -> None:
    log, got = _log(10_000)  # 5,000 bytes of head, 5,000 of tail
    lines = [f"line {i:05d} ".encode() + b"z" * 28 for i in range(10_000)]  # 40 bytes each with the newline
    for i in range(0, len(lines), 7):  # blocks of various sizes, as pipes deliver them
        log.feed("target", "stdout", b"\n".join(lines[i:i + 7]))
    note = log.flush()
    kept = [line[:10] for _, _, line in got]
    head = 5_000 // 40
    assert kept[:head] == [f"line {i:05d}" for i in range(head)]
    assert kept[-1] == "line 09999" and kept[head] > "line 09000"
    assert len(kept) - head == 5_000 // 40  # the tail fills its half, in whole lines
    assert log.dropped_lines == 10_000 - len(kept) and log.dropped_bytes == 40 * log.dropped_lines
    assert note is not None and f"{log.dropped_lines:,} log lines" in note and f"first {head:,}" in note
    assert log.dropped_by == {"target": log.dropped_lines} and f"; {log.dropped_lines:,} of target)" in note
    assert kept == sorted(kept), "order is kept"


def test_many_tiny_lines_hit_the_line_budget() -> None:
    log, got = _log(32 * 100)  # 50 lines of head, 50 of tail, whatever their bytes
    log.feed("t", "stdout", b"\n".join(b"x" for _ in range(10_000)))
    log.flush()
    assert len(got) == 100 and log.dropped_lines == 9_900


def test_dropped_lines_are_counted_per_source() -> None:
    log, got = _log(32 * 100)  # 50 lines of head, 50 of tail
    for i in range(300):
        log.feed("target" if i % 3 else "py-spy", "stdout", f"{i}".encode())
    note = log.flush()
    kept = [src for src, _, _ in got]
    assert len(kept) == 100 and sum(log.dropped_by.values()) == log.dropped_lines == 200
    # each source's stored and dropped lines add up to what it wrote
    assert kept.count("py-spy") + log.dropped_by["py-spy"] == 100
    assert kept.count("target") + log.dropped_by["target"] == 200
    assert note is not None and f"{log.dropped_by['target']:,} of target, {log.dropped_by['py-spy']:,} of py-spy" in note


def test_a_huge_line_is_stored_in_pieces() -> None:
    log, got = _log(1 << 22)
    log.feed("t", "stdout", b"y" * (3 * MAX_LINE + 5))
    log.flush()
    assert [len(x[2]) for x in got] == [MAX_LINE, MAX_LINE, MAX_LINE, 5]


# ------------------------------------------------------------------ through perflab, real processes

CHATTY = """
import sys, time
for i in range({n}):
    print(f"line {{i:07d}} " + "x" * 88)   # 100 bytes with the newline
print("the end", file=sys.stderr)
end = time.perf_counter() + 1.0
while time.perf_counter() < end:  # for the profiler: a second of the script's own code
    pass
"""


def _headless(tmp: Path, profile: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], dict, float]:
    (tmp / "p.toml").write_text(textwrap.dedent(profile), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp), str(REPO)])}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "perflab", "--headless", "p.toml", "--store", str(tmp / "store"),
                           "--json", "out.json"], cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - t0
    doc = json.loads((tmp / "out.json").read_text()) if (tmp / "out.json").exists() else {}
    return proc, (doc.get("runs") or [{}])[0], took


@pytest.mark.slow
def test_chatty_target_is_stored_up_to_the_limit(tmp_path: Path) -> None:
    n = 200_000  # 20 MB of output
    (tmp_path / "chatty.py").write_text(CHATTY.format(n=n), encoding="utf-8")
    proc, run, _ = _headless(tmp_path, """
        name = "chatty"
        [target]
        script = "chatty.py"
        [test]
        type = "cpu"
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    notes = [x["text"] for x in run["result"]["notes"] if "log lines" in x["text"]]
    assert len(notes) == 1 and "not stored: kept the first" in notes[0], run["result"]["notes"]
    assert "not stored" in proc.stdout  # the summary shows it
    with SessionStore(tmp_path / "store", readonly=True) as store:
        logs = [x for x in store.logs(store.resolve("last")) if x.source == "target"]
    stdout = [x.line for x in logs if x.stream == "stdout"]
    assert stdout[0].startswith("line 0000000 ") and stdout[-1].startswith(f"line {n - 1:07d} ")
    assert "the end" in [x.line for x in logs if x.stream == "stderr"]
    stored = sum(len(x.line) + 1 for x in logs)
    assert stored <= 4 << 20 and len(logs) < 50_000
    dropped = int(re.search(r"; ([\d,]+) of target", notes[0]).group(1).replace(",", ""))  # type: ignore[union-attr]
    # the stored target lines are a head and a tail of the sequence, in order, with nothing made up
    numbers = [int(x.split()[1]) for x in stdout]
    gap = next(i for i in range(1, len(numbers)) if numbers[i] != numbers[i - 1] + 1)
    assert numbers[:gap] == list(range(gap)) and numbers[gap:] == list(range(n - len(numbers) + gap, n))
    # every target line is stored or counted (the tools' own lines that fell in the dropped middle, such as
    # py-spy's messages, are counted apart)
    assert dropped + len(stdout) == n
    size = sum(p.stat().st_size for p in (tmp_path / "store").glob("perflab.db*"))
    assert size < 16 << 20, f"store of {size / 1e6:.1f} MB for 4 MiB of logs"


@pytest.mark.slow
def test_log_limit_profile_key(tmp_path: Path) -> None:
    n = 20_000  # 2 MB of output: under the default, over the profile's 64 KiB
    (tmp_path / "chatty.py").write_text(CHATTY.format(n=n), encoding="utf-8")
    proc, run, _ = _headless(tmp_path, """
        name = "chatty"
        log_limit = "64KiB"
        [target]
        script = "chatty.py"
        [test]
        type = "cpu"
    """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("not stored: kept the first" in x["text"] and x["kind"] == "output.truncated"
               for x in run["result"]["notes"]), run["result"]["notes"]
    with SessionStore(tmp_path / "store", readonly=True) as store:
        logs = [x for x in store.logs(store.resolve("last")) if x.source == "target"]
    assert sum(len(x.line) + 1 for x in logs) <= 64 << 10


HOG = """
import time
chunks = []
for i in range(256):            # 8 MiB a step, touched, up to 2 GiB in about 3 s
    chunks.append(b"\\x01" * (8 << 20))
    time.sleep(0.01)
time.sleep(60)
"""


@pytest.mark.slow
@pytest.mark.parametrize("test_type", ["cpu", "memory"])
def test_timeout_is_honoured_within_a_second(tmp_path: Path, test_type: str) -> None:
    (tmp_path / "hog.py").write_text(HOG, encoding="utf-8")
    proc, run, took = _headless(tmp_path, f"""
        name = "hog"
        timeout = "3s"
        [target]
        script = "hog.py"
        [test]
        type = "{test_type}"
    """)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "timed out after 3 s" in proc.stdout + proc.stderr
    with SessionStore(tmp_path / "store", readonly=True) as store:
        row = store.get("last")
    print(f"\n{test_type}: session {row.duration:.2f} s for a 3 s timeout; the whole command {took:.2f} s")
    assert row.duration < 4.0, f"the session lasted {row.duration:.2f} s"
    assert run["result"]["status"] == "error"
