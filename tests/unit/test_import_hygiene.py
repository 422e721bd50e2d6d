"""`perflab --version` and `--help` must stay light: none of the heavy packages may be imported."""

from __future__ import annotations

import json
import subprocess
import sys

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
