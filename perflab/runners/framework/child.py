"""What every runner gives its child: the environment, the target as the in-child agents read it, and file paths
as people read them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from perflab.core.model import Profile
from perflab.runners.framework.base import RunContext
from perflab.runners.framework.tools import child_path

_LIB = re.compile(r"(site-packages|dist-packages|lib/python3\.\d+)/")


def child_env(workdir: Path, extra: dict[str, Any]) -> dict[str, str]:
    """The child's environment: ours, the target's extras, the project folder importable, and this
    interpreter's scripts folders first on PATH (framework/tools.py)."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in extra.items()})
    env["PATH"] = child_path(env.get("PATH"))
    paths = [str(workdir)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def target_config(profile: Profile, ctx: RunContext) -> dict[str, Any]:
    """The JSON the in-child agents understand (see runners/agents/target_call.py)."""
    t = profile.target
    p = profile.test.params
    if t.kind == "script":
        path = Path(t.value)
        if not path.is_absolute():  # core.profiles checked it relative to the working folder
            path = ctx.workdir / path
        return {"script": str(path), "argv": [str(a) for a in t.options.get("args") or []]}
    return {"callable": t.value, "input": t.options.get("input"), "args": list(t.options.get("args") or []),
            "params": dict(p.get("params") or {})}


def short_path(path: str) -> str:
    """A file path as people read it: relative to the working folder or to site-packages."""
    m = _LIB.search(path)
    if m:
        return path[m.end():]
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
