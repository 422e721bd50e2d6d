"""Baseline files: versioned JSON meant to be committed, ``baselines/<profile>.json`` by default.

A baseline keeps what a significance test needs: the raw samples per process of every comparable metric
(``Result.raw``), the metrics, the machine fingerprint, git commit, perflab version and time. Reading goes
through one versioned reader: a corrupt, truncated, newer or foreign file is refused with one line (exit 2)
and is never overwritten. Writes are atomic: a temporary file in the same folder, fsync, rename, fsync of the
folder.

``import_pytest_benchmark`` reads the JSON of ``--benchmark-json`` / ``--benchmark-autosave`` (with or
without ``--benchmark-save-data``); each file counts as one process.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perflab import __version__
from perflab.core.model import ExitCode, Metric, PerflabError, Result, labels

FORMAT = "perflab-baseline"
VERSION = 1
ENV_DIR = "PERFLAB_BASELINES"


class BaselineError(PerflabError):
    exit_code = ExitCode.BAD_INPUT


@dataclass(frozen=True)
class Baseline:
    profile: str
    test_type: str
    metrics: tuple[Metric, ...]
    raw: Mapping[str, tuple[tuple[float, ...], ...]]  # metric key -> raw samples per process
    machine: Mapping[str, Any] = field(default_factory=dict)
    git: Mapping[str, Any] | None = None
    perflab_version: str = __version__
    created: float = 0.0  # seconds since the epoch
    session: str | None = None
    source: str = "perflab"  # or pytest-benchmark
    summary_only: bool = False  # imported without raw data: one median per process
    path: str | None = None

    def label(self) -> str:
        commit = (self.git or {}).get("commit") or ""
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.created)) if self.created else "?"
        return f"baseline {self.profile} ({when}{', ' + commit[:10] if commit else ''})"


def default_dir(cli_value: str | None = None) -> Path:
    if cli_value:
        return Path(cli_value)
    return Path(os.environ.get(ENV_DIR) or "baselines")


def path_for(profile: str, folder: str | os.PathLike[str] | None = None) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in profile)
    return Path(folder if folder is not None else default_dir()) / f"{safe}.json"


def from_result(profile: str, test_type: str, result: Result, *, machine: Mapping[str, Any],
                git: Mapping[str, Any] | None, session: str | None) -> Baseline:
    comparable = {m.key() for m in result.metrics if m.comparable}
    raw = {k: v for k, v in result.raw.items() if k in comparable or k not in {m.key() for m in result.metrics}}
    if not raw:
        raise BaselineError(f"the run of {profile} has no raw samples to keep as a baseline")
    return Baseline(profile, test_type, tuple(result.metrics), raw, dict(machine), dict(git) if git else None,
                    __version__, time.time(), session)


def to_dict(b: Baseline) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "profile": b.profile,
        "test_type": b.test_type,
        "created": b.created,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(b.created)),
        "perflab_version": b.perflab_version,
        "session": b.session,
        "source": b.source,
        "summary_only": b.summary_only,
        "machine": dict(b.machine),
        "git": dict(b.git) if b.git else None,
        "metrics": [{"name": m.name, "value": m.value, "unit": m.unit, "labels": dict(m.labels),
                     "comparable": m.comparable} for m in b.metrics],
        "raw": {k: [list(p) for p in v] for k, v in sorted(b.raw.items())},
    }


def _bad(path: Path, what: str) -> BaselineError:
    return BaselineError(f"{path}: {what}; the file was left untouched")


def read(path: str | os.PathLike[str], *, profile: str | None = None) -> Baseline:
    """Load and validate a baseline file. ``profile``: refuse a baseline of another profile."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise BaselineError(f"{p}: no such baseline file") from None
    except IsADirectoryError:
        raise BaselineError(f"{p}: is a directory, not a baseline file") from None
    except PermissionError:
        raise BaselineError(f"{p}: permission denied") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad(p, "not a UTF-8 JSON baseline (corrupt)") from None
    except json.JSONDecodeError as e:
        what = "truncated" if data.strip()[:1] == b"{" and not data.rstrip().endswith(b"}") else "corrupt"
        raise _bad(p, f"not valid JSON ({what}: {e.msg}, line {e.lineno} column {e.colno})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad(p, f'not a perflab baseline (no "format": "{FORMAT}")')
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _bad(p, f"unknown baseline format version {version!r}")
    if version > VERSION:
        raise _bad(p, f"baseline format version {version} is newer than this perflab reads ({VERSION}); "
                      "upgrade perflab")
    if version < 1:
        raise _bad(p, f"unknown baseline format version {version}")
    name = doc.get("profile")
    if profile is not None and name != profile:
        raise _bad(p, f"is a baseline of profile {name!r}, not {profile!r}")
    try:
        metrics = tuple(
            Metric(str(m["name"]), float(m["value"]), str(m.get("unit", "")),
                   tuple(sorted((str(k), str(v)) for k, v in (m.get("labels") or {}).items())),
                   bool(m.get("comparable", True)))
            for m in doc.get("metrics") or [])
        raw = {str(k): tuple(tuple(float(x) for x in proc) for proc in v) for k, v in (doc.get("raw") or {}).items()}
    except (KeyError, TypeError, ValueError) as e:
        raise _bad(p, f"corrupt metrics or raw samples ({type(e).__name__}: {e})") from None
    if not any(any(len(proc) for proc in v) for v in raw.values()):
        raise _bad(p, "has no raw samples, so nothing can be tested for significance; save it again "
                      "with --save-baseline")
    return Baseline(
        profile=str(name), test_type=str(doc.get("test_type", "")), metrics=metrics, raw=raw,
        machine=doc.get("machine") or {}, git=doc.get("git"), perflab_version=str(doc.get("perflab_version", "")),
        created=float(doc.get("created") or 0), session=doc.get("session"), source=str(doc.get("source", "perflab")),
        summary_only=bool(doc.get("summary_only", False)), path=str(p))


def check_writable(path: str | os.PathLike[str], profile: str) -> None:
    """Refuse to replace a file we cannot read as a baseline of ``profile`` (corrupt, newer, foreign)."""
    p = Path(path)
    if not p.exists():
        return
    try:
        read(p, profile=profile)
    except BaselineError as e:
        if "has no raw samples" in str(e):
            return  # a readable baseline of this profile, just useless: replacing it loses nothing
        raise BaselineError(f"refusing to overwrite: {e}") from None


def write(b: Baseline, path: str | os.PathLike[str]) -> Path:
    """Atomically write ``b`` to ``path`` (temp file in the same folder, fsync, rename, fsync folder)."""
    p = Path(path)
    check_writable(p, b.profile)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(to_dict(b), indent=1, sort_keys=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as e:
        raise BaselineError(f"{p}: cannot write baseline: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise BaselineError(f"{p}: cannot write baseline: {e.strerror or e}") from None
    with contextlib.suppress(OSError):
        dfd = os.open(p.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return p


# ---------------------------------------------------------------- pytest-benchmark import


def _pb_read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BaselineError(f"{path}: not valid pytest-benchmark JSON ({type(e).__name__})") from None
    except OSError as e:
        raise BaselineError(f"{path}: cannot read: {e.strerror or e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise BaselineError(f'{path}: not pytest-benchmark JSON (no "benchmarks" list)')
    return doc


def import_pytest_benchmark(files: Sequence[str | os.PathLike[str]], profile: str) -> Baseline:
    """A baseline from pytest-benchmark JSON files (``--benchmark-json`` or autosave); one file = one process.

    With ``--benchmark-save-data`` every round is kept; without it only each file's median is (one value
    per process, ``summary_only``).
    """
    if not files:
        raise BaselineError("no pytest-benchmark JSON files given")
    per_bench: dict[str, list[tuple[float, ...]]] = {}
    medians: dict[str, list[float]] = {}
    summary_only = False
    first: dict[str, Any] = {}
    for f in files:
        doc = _pb_read(Path(f))
        first = first or doc
        for bench in doc["benchmarks"]:
            try:
                name = str(bench["name"])
                st = bench["stats"]
                data = st.get("data")
                med = float(st["median"])
            except (KeyError, TypeError, ValueError):
                raise BaselineError(f"{f}: a benchmark entry lacks name or stats.median") from None
            key = Metric("median", 0, "s", labels(benchmark=name)).key()
            if data:
                per_bench.setdefault(key, []).append(tuple(float(x) for x in data))
            else:
                summary_only = True
                per_bench.setdefault(key, []).append((med,))
            medians.setdefault(name, []).append(med)
    if not per_bench:
        raise BaselineError(f"{files[0]}: no benchmarks in the pytest-benchmark JSON")
    metrics = tuple(Metric("median", sorted(v)[len(v) // 2], "s", labels(benchmark=n)) for n, v in medians.items())
    mi = first.get("machine_info") or {}
    ci = first.get("commit_info") or {}
    machine = {"cpu": (mi.get("cpu") or {}).get("brand_raw"), "cores": (mi.get("cpu") or {}).get("count"),
               "python": mi.get("python_version"), "implementation": mi.get("python_implementation"),
               "arch": (mi.get("cpu") or {}).get("arch_string_raw") or mi.get("machine"),
               "hostname": mi.get("node")}
    git = {"commit": ci.get("id"), "dirty": ci.get("dirty"), "branch": ci.get("branch")} if ci.get("id") else None
    created = time.time()
    with contextlib.suppress(ValueError, TypeError):
        created = time.mktime(time.strptime(str(first.get("datetime", ""))[:19], "%Y-%m-%dT%H:%M:%S"))
    return Baseline(profile, "benchmark", metrics, {k: tuple(v) for k, v in per_bench.items()}, machine, git,
                    __version__, created, None, "pytest-benchmark", summary_only)
