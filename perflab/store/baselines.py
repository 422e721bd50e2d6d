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
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from perflab import __version__
from perflab.core.model import ExitCode, Metric, PerflabError, Result, labels
from perflab.core.params import printable

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


NAME_BYTES = 200  # a file name stays below the usual 255-byte limit of a file system


def path_for(profile: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """``<folder>/<profile>.json``, the name made safe; a name too long for a file name keeps its start and
    gets a hash of the whole, so two long names still map to different files."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in profile)
    if len(safe.encode()) > NAME_BYTES:
        digest = hashlib.sha256(profile.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        safe = safe.encode()[:NAME_BYTES - 17].decode("utf-8", "ignore") + "-" + digest
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


def _kind(v: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(type(v), type(v).__name__)


def _finite(v: Any) -> TypeGuard[int | float]:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    return (v.bit_length() <= 1000) if isinstance(v, int) else math.isfinite(v)


def _number(v: Any) -> TypeGuard[int | float]:
    """Any JSON number, NaN and infinities included (a metric may be undefined, e.g. a ratio of zeros)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and (not isinstance(v, int) or _finite(v))


# The newest time a baseline can carry (year 9999): time.gmtime fails beyond it.
MAX_CREATED = 253402300799.0
# The largest magnitude of a raw sample (seconds, bytes or a ratio): beyond it the file is corrupt, and the
# statistics would overflow (squares of values near 1e155 are infinite).
MAX_SAMPLE = 1e15


class _Fields:
    """Typed reading of a baseline document: the first field of a wrong type refuses the whole file with one
    line naming the file and the field; nothing is coerced (``"raw": "x"`` is corrupt, not empty)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def bad(self, field: str, expected: str, value: Any) -> BaselineError:
        got = "NaN or infinity" if isinstance(value, float) and not math.isfinite(value) else _kind(value)
        return _bad(self.path, f'corrupt field "{printable(field, 120)}": expected {expected}, got {got}')

    def get(self, doc: dict[str, Any], key: str, types: type | tuple[type, ...], expected: str, default: Any,
            field: str | None = None) -> Any:
        v = doc.get(key, default)
        if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise self.bad(field or key, expected, v)
        if not isinstance(v, types):
            raise self.bad(field or key, expected, v)
        return v

    def scalars(self, doc: dict[str, Any], key: str, *, nullable: bool) -> dict[str, Any] | None:
        v = doc.get(key)
        if v is None:
            return None if nullable else {}
        what = "an object of strings, numbers, booleans or nulls" + (", or null" if nullable else "")
        if not isinstance(v, dict):
            raise self.bad(key, what, v)
        for k, x in v.items():
            if not (isinstance(x, str | bool | None) or _number(x)):
                raise self.bad(f"{key}.{k}", "a string, number, boolean or null", x)
        return v

    def metrics(self, doc: dict[str, Any]) -> tuple[Metric, ...]:
        items = doc.get("metrics")
        if items is None:
            return ()
        if not isinstance(items, list):
            raise self.bad("metrics", "an array of metric objects", items)
        out = []
        for i, m in enumerate(items):
            at = f"metrics[{i}]"
            if not isinstance(m, dict):
                raise self.bad(at, "a metric object", m)
            name = self.get(m, "name", str, "a string", None, f"{at}.name")
            value = m.get("value")
            if not _number(value):
                raise self.bad(f"{at}.value", "a number", value)
            unit = self.get(m, "unit", str, "a string", "", f"{at}.unit")
            lbls = self.get(m, "labels", (dict, type(None)), "an object of strings", None, f"{at}.labels") or {}
            for k, v in lbls.items():
                if not isinstance(v, str):
                    raise self.bad(f"{at}.labels.{k}", "a string", v)
            comparable = self.get(m, "comparable", bool, "a boolean", True, f"{at}.comparable")
            out.append(Metric(name, float(value), unit, tuple(sorted(lbls.items())), comparable))
        return tuple(out)

    def raw(self, doc: dict[str, Any]) -> dict[str, tuple[tuple[float, ...], ...]]:
        what = "an object mapping metric keys to arrays of per-process sample arrays"
        raw = doc.get("raw")
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.bad("raw", what, raw)
        out = {}
        for key, procs in raw.items():
            if not isinstance(procs, list):
                raise self.bad(f"raw.{key}", "an array of per-process sample arrays", procs)
            rows = []
            for i, proc in enumerate(procs):
                if not isinstance(proc, list):
                    raise self.bad(f"raw.{key}[{i}]", "an array of samples", proc)
                for j, x in enumerate(proc):
                    if not _finite(x) or abs(x) > MAX_SAMPLE:
                        raise self.bad(f"raw.{key}[{i}][{j}]", f"a finite number within +-{MAX_SAMPLE:g}", x)
                rows.append(tuple(float(x) for x in proc))
            out[key] = tuple(rows)
        return out


def read(path: str | os.PathLike[str], *, profile: str | None = None) -> Baseline:
    """Load and validate a baseline file. ``profile``: refuse a baseline of another profile.

    Every field is checked for its type before it is used; a file that fails any check raises BaselineError
    (one line naming the file and the field, exit 2) and is left as it was."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise BaselineError(f"{p}: no such baseline file") from None
    except IsADirectoryError:
        raise BaselineError(f"{p}: is a directory, not a baseline file") from None
    except PermissionError:
        raise BaselineError(f"{p}: permission denied") from None
    except OSError as e:
        raise BaselineError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad(p, "not a UTF-8 JSON baseline (corrupt)") from None
    except json.JSONDecodeError as e:
        what = "truncated" if data.strip()[:1] == b"{" and not data.rstrip().endswith(b"}") else "corrupt"
        raise _bad(p, f"not valid JSON ({what}: {e.msg}, line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise _bad(p, "not a perflab baseline (corrupt: nested too deeply)") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise _bad(p, f"not valid JSON (corrupt: {str(e).split(':')[0]})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad(p, f'not a perflab baseline (no "format": "{FORMAT}")')
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _bad(p, f"unknown baseline format version {printable(repr(version), 40)}")
    if version > VERSION:
        raise _bad(p, f"baseline format version {version if version.bit_length() < 64 else 'too large'} is newer "
                      f"than this perflab reads ({VERSION}); upgrade perflab")
    if version < 1:
        raise _bad(p, f"unknown baseline format version {version if version.bit_length() < 64 else 'too small'}")
    f = _Fields(p)
    name = f.get(doc, "profile", str, "a string", None)
    if profile is not None and name != profile:
        raise _bad(p, f"is a baseline of profile {printable(repr(name), 80)}, not {profile!r}")
    metrics = f.metrics(doc)
    raw = f.raw(doc)
    created = doc.get("created", 0.0)
    if created is None:
        created = 0.0
    if not _finite(created) or not 0 <= created <= MAX_CREATED:
        raise f.bad("created", "seconds since the epoch", created)
    for key in ("created_utc",):
        f.get(doc, key, str, "a string", "")
    git = f.scalars(doc, "git", nullable=True)
    if git is not None:
        f.get(git, "commit", (str, type(None)), "a string or null", None, "git.commit")
    b = Baseline(
        profile=name, test_type=f.get(doc, "test_type", str, "a string", ""), metrics=metrics, raw=raw,
        machine=f.scalars(doc, "machine", nullable=False) or {}, git=git,
        perflab_version=f.get(doc, "perflab_version", str, "a string", ""), created=float(created),
        session=f.get(doc, "session", (str, type(None)), "a string or null", None),
        source=f.get(doc, "source", str, "a string", "perflab"),
        summary_only=f.get(doc, "summary_only", bool, "a boolean", False), path=str(p))
    if not any(any(len(proc) for proc in v) for v in raw.values()):
        raise _bad(p, "has no raw samples, so nothing can be tested for significance; save it again "
                      "with --save-baseline")
    return b


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


def check_folder_writable(folder: str | os.PathLike[str]) -> None:
    """Refuse, before anything runs, a baseline folder a baseline could not be written into.

    An existing folder is probed by creating and removing a temporary file in it (the only test that holds
    for root, read-only mounts, ACLs and full disks alike); a missing one needs its nearest existing parent
    to be a folder this process may create entries in, since ``write`` creates it."""
    p = Path(folder)
    try:
        if p.is_dir():
            fd, tmp = tempfile.mkstemp(prefix=".perflab-probe-", suffix=".tmp", dir=p)
            os.close(fd)
            os.unlink(tmp)
            return
        if p.exists():
            raise BaselineError(f"{p}: the baseline folder is not a folder")
        parent = p.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    except OSError as e:
        raise BaselineError(f"{p}: the baseline folder is not writable: {e.strerror or e}") from None
    if not parent.is_dir():
        raise BaselineError(f"{p}: cannot create the baseline folder: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BaselineError(f"{p}: cannot create the baseline folder: {parent} is not writable")


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
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: JSON errors, huge integers
        raise BaselineError(f"{path}: not valid pytest-benchmark JSON ({type(e).__name__})") from None
    except OSError as e:
        raise BaselineError(f"{path}: cannot read: {e.strerror or e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise BaselineError(f'{path}: not pytest-benchmark JSON (no "benchmarks" list)')
    return doc


def _table(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _scalar(v: Any) -> Any:
    return v if isinstance(v, str | bool | None) or _number(v) else None


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
            st = bench.get("stats") if isinstance(bench, dict) else None
            if not isinstance(st, dict):
                raise BaselineError(f"{f}: a benchmark entry lacks a name or a numeric stats.median")
            name, median, data = bench.get("name"), st.get("median"), st.get("data")
            if not isinstance(name, str) or not _finite(median):
                raise BaselineError(f"{f}: a benchmark entry lacks a name or a numeric stats.median")
            med = float(median)
            if data is not None and not (isinstance(data, list) and all(_finite(x) for x in data)):
                raise BaselineError(f'{f}: benchmark {printable(name, 80)!r}: "stats.data" is not a list of numbers')
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
    mi, ci = _table(first.get("machine_info")), _table(first.get("commit_info"))
    cpu = _table(mi.get("cpu"))
    # only scalars are kept: the baseline reader refuses a machine or git entry of any other type
    machine = {k: _scalar(v) for k, v in (
        ("cpu", cpu.get("brand_raw")), ("cores", cpu.get("count")), ("python", mi.get("python_version")),
        ("implementation", mi.get("python_implementation")),
        ("arch", cpu.get("arch_string_raw") or mi.get("machine")), ("hostname", mi.get("node")))}
    commit = ci.get("id") if isinstance(ci.get("id"), str) else None
    git = {"commit": commit, "dirty": _scalar(ci.get("dirty")), "branch": _scalar(ci.get("branch"))} if commit else None
    created = time.time()
    with contextlib.suppress(ValueError, TypeError, OverflowError):
        created = time.mktime(time.strptime(str(first.get("datetime", ""))[:19], "%Y-%m-%dT%H:%M:%S"))
    return Baseline(profile, "benchmark", metrics, {k: tuple(v) for k, v in per_bench.items()}, machine, git,
                    __version__, created, None, "pytest-benchmark", summary_only)
