"""agents/counted.py: a process counted under valgrind starts no subprocess before its benchmarks.

Real pytest with the installed pytest-benchmark and pytest-codspeed (simulation mode, as perflab runs it), run
natively: an audit hook installed before pytest starts records every subprocess. Without the plugin,
pytest-benchmark asks git, hg and ``file`` before the first test runs; with it, nothing is started.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from perflab.runners.agents import counted

TEST = """\
import json, os, sys


def test_one(benchmark):
    with open(os.environ["SPAWN_LOG"], "a") as f:
        f.write(json.dumps(["TEST STARTED"]) + "\\n")
    benchmark(sum, range(100))
"""

# Installs the audit hook, then runs pytest in this process, as ``python -m pytest`` would.
DRIVER = """\
import json, os, sys

log = os.environ["SPAWN_LOG"]

def hook(event, args):
    if event in ("subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec"):
        with open(log, "a") as f:
            f.write(json.dumps([event, str(args[1] if event == "subprocess.Popen" else args[0])]) + "\\n")

sys.addaudithook(hook)
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def _spawned_before_the_test(tmp_path: Path, *plugin: str) -> list[list[str]]:
    (tmp_path / "test_x.py").write_text(TEST, encoding="utf-8")
    log = tmp_path / "spawns.jsonl"
    log.unlink(missing_ok=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SPAWN_LOG": str(log), "CODSPEED_ENV": "1",
           "CODSPEED_PROFILE_FOLDER": str(tmp_path / "codspeed"), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", DRIVER, "test_x.py", *plugin, "-p", "no:cacheprovider", "-q",
                           "--codspeed", "--codspeed-mode=simulation"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert ["TEST STARTED"] in events, events
    return events[:events.index(["TEST STARTED"])]


def test_without_the_plugin_pytest_benchmark_starts_subprocesses_before_the_tests(tmp_path: Path) -> None:
    before = _spawned_before_the_test(tmp_path)
    commands = " ".join(e[1] for e in before)
    assert "git" in commands and "file" in commands, before


def test_with_the_plugin_no_subprocess_starts_before_the_benchmarks(tmp_path: Path) -> None:
    assert _spawned_before_the_test(tmp_path, "-p", counted.__name__) == []


def test_the_installed_pytest_benchmark_has_every_name_replaced() -> None:
    import pytest_benchmark.utils as utils

    missing = [n for n in counted.REPLACED if not hasattr(utils, n)]
    assert missing == [], f"pytest-benchmark no longer has {missing}: agents/counted.py replaces nothing there"


def test_the_machine_id_is_the_one_pytest_benchmark_computes_with_file() -> None:
    import pytest_benchmark.utils as utils

    assert utils.get_machine_id is not counted.machine_id  # importing the plugin replaced nothing here
    assert counted.machine_id() == utils.get_machine_id()
