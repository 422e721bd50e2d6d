"""Machine fingerprint and git state, recorded with every session and baseline."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def fingerprint() -> dict[str, Any]:
    """CPU model, cores, governor, Python version and implementation, OS. Only stable facts: two runs on the
    same machine give the same fingerprint."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "max_freq_khz": _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "free_threaded": not getattr(sys, "_is_gil_enabled", lambda: True)(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "hostname": platform.node(),
    }


COMPARED_KEYS = ("cpu", "cores", "governor", "python", "implementation", "arch")


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Human lines for the fingerprint keys that matter for timing and differ."""
    return [f"{k}: {a.get(k)} vs {b.get(k)}" for k in COMPARED_KEYS if a.get(k) != b.get(k)]


def git_info(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """Commit and dirty flag when cwd is inside a git work tree, else None."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=5)
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=5)
        branch = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip()),
            "branch": branch.stdout.strip() or None}
