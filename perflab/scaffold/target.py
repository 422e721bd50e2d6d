"""Inspect a ``module:function`` target in a child interpreter: is it importable, async, what does it take?

The user's module is imported in a separate process (with the project folder on sys.path), so a module that
prints, mutates globals, or hangs at import never affects perflab itself; a hang is cut off after
INSPECT_TIMEOUT seconds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from perflab.core.model import PerflabError

INSPECT_TIMEOUT = 60.0  # seconds allowed for importing the user's module ($PERFLAB_INSPECT_TIMEOUT overrides)
_MARK = "PERFLAB-INSPECT "
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

# Runs inside the child. Prints one marked JSON line; never raises.
_PROBE = r"""
import importlib, inspect, json, sys
ref = sys.argv[1]
mod_name, _, attr = ref.partition(":")
out = {"ref": ref, "module": mod_name}
try:
    obj = importlib.import_module(mod_name)
except BaseException as e:
    out["error"] = "import"
    out["message"] = f"{type(e).__name__}: {e}".strip()
else:
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        out["error"] = "attribute"
        out["message"] = f"module {mod_name!r} has no attribute {attr!r}"
    else:
        out["callable"] = callable(obj)
        fn = getattr(obj, "__func__", obj)
        out["is_async"] = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None))
        out["is_generator"] = inspect.isgeneratorfunction(fn)
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            out["params"] = None
            out["returns"] = ""
        else:
            def ann(a):
                if a is inspect.Parameter.empty or a is inspect.Signature.empty:
                    return ""
                return a if isinstance(a, str) else inspect.formatannotation(a)
            out["params"] = [
                {"name": p.name, "kind": p.kind.name, "has_default": p.default is not inspect.Parameter.empty,
                 "annotation": ann(p.annotation)}
                for p in sig.parameters.values()
            ]
            out["returns"] = ann(sig.return_annotation)
print("PERFLAB-INSPECT " + json.dumps(out), flush=True)
"""


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD, VAR_POSITIONAL, KEYWORD_ONLY, VAR_KEYWORD
    has_default: bool
    annotation: str  # as written ("list[int]"), "" when absent

    @property
    def required(self) -> bool:
        return not self.has_default and self.kind not in ("VAR_POSITIONAL", "VAR_KEYWORD")


@dataclass(frozen=True)
class TargetInfo:
    ref: str  # module:function
    module: str
    attr: str
    is_async: bool
    params: tuple[Parameter, ...] | None  # None: no signature available (some builtins, C extensions)
    returns: str  # return annotation as written, "" when absent

    @property
    def name(self) -> str:
        return self.attr.rpartition(".")[2]

    @property
    def required(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.params or () if p.required)


def check_ref(ref: str) -> str:
    if not _REF.match(ref):
        raise PerflabError(f'{ref!r}: expected a target of the form "module:function" (e.g. pkg.mod:func)')
    return ref


def search_path(root: Path) -> list[str]:
    """Where the project's own modules are found: the project folder, and ``src/`` for src layouts."""
    paths = [str(root)]
    if (root / "src").is_dir():
        paths.append(str(root / "src"))
    return paths


def inspect_target(ref: str, root: Path) -> TargetInfo:
    """Import ``ref`` in a child interpreter and describe it; PerflabError (exit 2) when it cannot be used."""
    check_ref(ref)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*search_path(root), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PERFLAB_EVENT_FD", None)
    try:
        timeout = float(os.environ.get("PERFLAB_INSPECT_TIMEOUT") or INSPECT_TIMEOUT)
    except ValueError:
        timeout = INSPECT_TIMEOUT
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE, ref], cwd=root, env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise PerflabError(f"importing module {ref.partition(':')[0]!r} took longer than {timeout:g} s "
                           "(does it do work at import time?); nothing written") from None
    line = next((x for x in reversed(proc.stdout.splitlines()) if x.startswith(_MARK)), None)
    if line is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PerflabError(f"cannot inspect {ref}: the interpreter exited with code {proc.returncode}: {tail}")
    data = json.loads(line[len(_MARK):])
    module = data["module"]
    if data.get("error") == "import":
        raise PerflabError(f"cannot import module {module!r} (from {root}): {data['message']}")
    if data.get("error") == "attribute":
        raise PerflabError(f"cannot use {ref}: {data['message']}")
    if not data.get("callable"):
        raise PerflabError(f"cannot use {ref}: it is not callable")
    params = None
    if data.get("params") is not None:
        params = tuple(Parameter(p["name"], p["kind"], bool(p["has_default"]), p["annotation"])
                       for p in data["params"])
    return TargetInfo(ref=ref, module=module, attr=ref.partition(":")[2], is_async=bool(data.get("is_async")),
                      params=params, returns=str(data.get("returns") or ""))
