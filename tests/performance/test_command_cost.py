"""CPU cost of the read-only commands (`sessions`, `show`, `history`, `compare`, `baseline show`) on an empty store.

Run for figures (docs/figures.md, "Read-only commands"):
    python3 -m pytest tests/performance/test_command_cost.py -s -q
CI smoke (quick, same code, fewer rounds): add --benchmark-disable.

Each command runs as a real `python -m perflab` process; its cost is the CPU time (user + system) the child used,
read from getrusage, so the machine's load moves it far less than wall time would. Commands and `perflab
--version` (the interpreter's own start-up plus perflab's package) run interleaved, round after round, and
medians are quoted: a command's cost above `--version` is what it imports and does.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = ("--version", "sessions", "sessions --json", "show last", "history p", "compare a b",
            "baseline show p")
TARGET_CPU = 0.150  # seconds of CPU per command, the whole process


def child_cpu(argv: list[str], cwd: Path) -> float:
    """CPU seconds (user + system) of one finished child process."""
    before = os.times()
    subprocess.run([sys.executable, "-m", "perflab", *argv], cwd=cwd, capture_output=True, check=False)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def test_read_only_commands_cpu(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    rounds = 3 if request.config.getoption("benchmark_disable", default=False) else 15
    store = tmp_path / "store"
    store.mkdir()
    cost: dict[str, list[float]] = {c: [] for c in COMMANDS}
    for _ in range(rounds):
        for c in COMMANDS:
            argv = c.split() + ([] if c == "--version" else ["--store", str(store)])
            cost[c].append(child_cpu(argv, tmp_path))
    medians = {c: statistics.median(v) for c, v in cost.items()}
    print(f"PERF read-only commands, CPU per process (median of {rounds}): "
          + ", ".join(f"{c} {m * 1000:.0f} ms" for c, m in medians.items()))
    # Every command measured and none slower than python's start-up by an order of magnitude: the smoke check.
    # The target itself (TARGET_CPU) is judged on the printed medians of a measuring run, not asserted here.
    assert all(m > 0 for m in medians.values())
    assert max(medians.values()) < 10 * medians["--version"] + TARGET_CPU
