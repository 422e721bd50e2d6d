"""Shared fixtures: every test gets its own session store and working folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "store"
    monkeypatch.setenv("PERFLAB_STORE", str(d))
    return d


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m perflab ARGS`` in a real subprocess and capture its output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "perflab", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_headless(tmp_path: Path, profile: Path | str, *, module: str = "", env: dict[str, str] | None = None,
                 timeout: float = 180, name: str = "p.toml") -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``perflab --headless PROFILE --json`` in a real subprocess, from ``tmp_path`` with its own store.

    ``profile`` is a path or TOML text (dedented and written to ``tmp_path/name``); ``module`` becomes
    ``usercode.py`` there, importable by the target. Returns the process and the first run's result from
    the JSON output ({} when there is none)."""
    if module:
        (tmp_path / "usercode.py").write_text(textwrap.dedent(module), encoding="utf-8")
    if isinstance(profile, str):
        path = tmp_path / name
        path.write_text(textwrap.dedent(profile), encoding="utf-8")
        profile = path
    out = tmp_path / "out.json"
    proc = run_cli("--headless", str(profile), "--json", str(out), "--store", str(tmp_path / "store"), cwd=tmp_path,
                   env={"PYTHONPATH": f"{tmp_path}:{REPO}", **(env or {})}, timeout=timeout)
    doc = json.loads(out.read_text()) if out.exists() else {}
    return proc, (doc.get("runs") or [{}])[0].get("result", {})


def command_line(p: Any) -> str:
    """A psutil.Process's command line, or "" when it ended between being listed and being read."""
    import psutil

    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""
