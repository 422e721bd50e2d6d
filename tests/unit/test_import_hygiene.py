"""`perflab --version` and `--help` must stay light: none of the heavy packages may be imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("textual", "locust", "scipy", "pytest", "memray", "numpy", "psutil", "rich")


@pytest.mark.parametrize("flag", ["--version", "--help", "sessions --help"])
def test_cli_flags_import_nothing_heavy(flag: str) -> None:
    code = (
        "import sys, json\n"
        "from perflab.cli import main\n"
        f"try:\n    main({flag.split()!r})\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not loaded & set(HEAVY), f"{flag} imported {sorted(loaded & set(HEAVY))}"


def test_version_prints_version() -> None:
    out = subprocess.run([sys.executable, "-m", "perflab", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("perflab ")


# The read-only commands: a table needs rich, nothing more; the statistics, the engine's asyncio, psutil and the
# tools load only where a run or a comparison needs them.
READ_ONLY_HEAVY = (*(m for m in HEAVY if m != "rich"), "asyncio")


def _store_with_a_session(root: Path) -> str:
    from perflab.core.model import Metric, Profile, Result, Status, Target, TestSpec
    from perflab.store.sessions import SessionStore

    with SessionStore(root) as st:
        sid = st.create_session(Profile("p", "", Target("callable", "x:y"), TestSpec("benchmark")), machine={},
                                git=None)
        st.finish_session(sid, Result(Status.PASSED, metrics=(Metric("median", 0.001, "s"),)), 0, 1.0)
    return sid


@pytest.mark.parametrize("argv", ["sessions", "sessions --json", "show last", "show last --json",
                                  "history p", "history p --json", "baseline show nothere", "compare a b"])
@pytest.mark.parametrize("populated", [False, True], ids=["empty", "one-session"])
def test_read_only_commands_import_only_what_they_use(argv: str, populated: bool, tmp_path: Path) -> None:
    store = tmp_path / "store"
    if populated:
        _store_with_a_session(store)
    code = (
        "import sys, json\n"
        "from perflab.cli import main\n"
        f"try:\n    main({[*argv.split(), '--store', str(store)]!r})\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert "Traceback" not in out.stderr, out.stderr
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    uses = {"numpy"} if populated and argv.startswith("history") else set()  # change points are statistics
    heavy = set(READ_ONLY_HEAVY) - uses
    assert not loaded & heavy, f"{argv} imported {sorted(loaded & heavy)}"
