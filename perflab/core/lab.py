"""The front ends' door to the lab: profiles on disk, stored sessions, recorded runs, replays.

Screens never touch runners or the store; they call these functions. ``run_recorded`` is the one way a run is
wired (session row, recorder sink, engine, final status), whatever front end watches it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perflab.core import machine, profiles
from perflab.core.engine import Engine, Outcome, Sink
from perflab.core.model import Artifact, ExitCode, PerflabError, Profile, Result, Status
from perflab.core.replay import Column, ReplayIndex
from perflab.store.sessions import SessionRow, SessionStore, default_root


def store_root(cli_value: str | None = None) -> Path:
    return default_root(cli_value)


@dataclass(frozen=True)
class ProfileEntry:
    """One profile file as the home screen lists it (``error`` set when it does not load)."""

    path: Path
    name: str
    test_type: str
    target: str
    verdict: str  # status of the last stored session of this profile, or "-"
    profile: Profile | None
    error: str = ""


def list_profiles(folder: str | os.PathLike[str], root: Path | None = None) -> list[ProfileEntry]:
    folder = Path(folder)
    if not folder.is_dir():
        return []
    last = last_verdicts(root)
    out = []
    for path in sorted(folder.glob("*.toml")):
        try:
            prof = profiles.load(path)
        except PerflabError as e:
            out.append(ProfileEntry(path, path.stem, "?", "?", "-", None, str(e).splitlines()[0]))
            continue
        out.append(ProfileEntry(path, prof.name, prof.test.type, prof.target.describe(),
                                last.get(prof.name, "-"), prof))
    return out


def last_verdicts(root: Path | None) -> dict[str, str]:
    """profile name -> status of its newest session (empty when there is no store yet)."""
    root = root or store_root()
    if not (root / "perflab.db").exists():
        return {}
    try:
        with SessionStore(root, readonly=True) as st:
            rows = st.conn.execute("SELECT profile, status FROM sessions ORDER BY started ASC").fetchall()
    except PerflabError:
        return {}
    return {p: s for p, s in rows}


def list_sessions(root: Path | None = None, *, profile: str | None = None, test_type: str | None = None,
                  status: str | None = None, since: float | None = None, limit: int = 500) -> list[SessionRow]:
    root = root or store_root()
    if not (root / "perflab.db").exists():
        return []
    with SessionStore(root, readonly=True) as st:
        return st.sessions(profile=profile, test_type=test_type, status=status, since=since, limit=limit)


def delete_session(root: Path, sid: str) -> None:
    with SessionStore(root) as st:
        st.delete(st.resolve(sid))


def session_artifacts_dir(root: Path, sid: str) -> Path:
    return root / "artifacts" / sid


FIRST_CHUNK = 10.0  # seconds of samples read before the first frame
CHUNK = 300.0  # seconds of samples per background read


def _columns(st: SessionStore, series: list[tuple[int, str, dict[str, str]]], lo: float, hi: float
             ) -> list[Column]:
    """Samples with lo < t <= hi of each series, read straight into numpy (no per-row objects)."""
    dt = np.dtype([("t", "f8"), ("v", "f8")])
    out = []
    for sid, name, lb in series:
        rows = np.fromiter(st.conn.execute("SELECT t, value FROM samples WHERE series=? AND t > ? AND t <= ? "
                                           "ORDER BY t", (sid, lo, hi)), dtype=dt)
        if len(rows):
            out.append(Column(name, tuple(sorted(lb.items())), rows["t"].copy(), rows["v"].copy()))
    return out


def open_replay(root: Path | None, ref: str, *, first: float = FIRST_CHUNK, chunk: float = CHUNK
                ) -> tuple[SessionRow, ReplayIndex, Iterator[float]]:
    """A stored session, its replay index holding the first ``first`` seconds of samples, and an iterator
    that, on each step, reads the next ``chunk`` seconds into the index (run it off the UI thread)."""
    root = root or store_root()
    with SessionStore(root, readonly=True) as st:
        row = st.get(ref)
        series = st.series(row.id)
        others = [*st.logs(row.id), *st.other_events(row.id)]
        end = st.conn.execute("SELECT max(t) FROM samples WHERE series IN (SELECT id FROM series WHERE session=?)",
                              (row.id,)).fetchone()[0] or 0.0
        columns = _columns(st, series, -math.inf, first)
    thresholds: Sequence[str] = ()
    if row.profile_text:
        with contextlib.suppress(PerflabError):
            thresholds = profiles.parse(row.profile_text, row.profile_path or row.profile).thresholds
    index = ReplayIndex(columns, others, thresholds, duration=max(row.duration or 0.0, end))
    if end > first:
        index.loaded_until = first

    def rest() -> Iterator[float]:
        with SessionStore(root, readonly=True) as st2:
            lo = first
            while lo < end:
                hi = min(end, lo + chunk)
                index.extend(_columns(st2, series, lo, hi), math.inf if hi >= end else hi)
                lo = hi
                yield index.loaded

    return row, index, rest()


def load_replay(root: Path | None, ref: str) -> tuple[SessionRow, ReplayIndex]:
    """A stored session with all its samples loaded."""
    row, index, rest = open_replay(root, ref)
    for _ in rest:
        pass
    return row, index


async def run_recorded(profile: Profile, root: Path | None, sinks: Iterable[Sink], *,
                       on_engine: Callable[[Engine], None] | None = None,
                       workdir: Path | None = None) -> Outcome:
    """Run ``profile`` through the engine, recording it as a session; the session always ends with a status."""
    workdir = workdir or Path.cwd()
    with SessionStore(root or store_root()) as st:
        sid = st.create_session(profile, machine=machine.fingerprint(), git=machine.git_info(workdir))
        secrets = tuple(os.environ.get(name, "") for name in profile.secrets)
        recorder = st.recorder(sid, secrets)
        engine = Engine(profile, [recorder, *sinks], session_id=sid, artifacts_dir=st.artifacts_dir(sid),
                        workdir=workdir)
        if on_engine is not None:
            on_engine(engine)
        outcome: Outcome | None = None
        try:
            outcome = await engine.run()
        finally:
            recorder.flush()
            if outcome is None:  # cancelled or an internal error: the session must not stay "running"
                st.finish_session(sid, Result(Status.INTERRUPTED, "stopped"), ExitCode.INTERRUPTED,
                                  engine.now(), secrets)
        st.finish_session(sid, outcome.result, int(outcome.exit_code), outcome.duration, secrets)
        return outcome


def profile_to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for the ad-hoc form (strings, numbers, booleans, lists, one level of tables)."""
    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return json.dumps(str(v))

    top = [f"{k} = {val(v)}" for k, v in data.items() if not isinstance(v, dict)]
    parts = ["\n".join(top)] if top else []
    for k, v in data.items():
        if isinstance(v, dict):
            parts.append(f"[{k}]\n" + "\n".join(f"{kk} = {val(vv)}" for kk, vv in v.items()))
    return "\n\n".join(parts) + "\n"


def session_artifacts(root: Path | None, sid: str) -> list[Artifact]:
    with SessionStore(root or store_root(), readonly=True) as st:
        return st.artifacts(sid)


def get_session(root: Path | None, ref: str) -> SessionRow:
    with SessionStore(root or store_root(), readonly=True) as st:
        return st.get(ref)


def can_compare() -> bool:
    """True once core.compare exists (built by another issue)."""
    import importlib.util

    return importlib.util.find_spec("perflab.core.compare") is not None


def compare_sessions(root: Path | None, a: str, b: str) -> str:
    """A one-paragraph comparison of two stored sessions' metrics (core.compare when present)."""
    ra, rb = get_session(root, a), get_session(root, b)
    if ra.result is None or rb.result is None:
        return "both sessions need a stored result to compare"
    lines = []
    for m in rb.result.metrics:
        old = ra.result.metric(m.name, **dict(m.labels))
        if old is not None and old.value:
            lines.append(f"{m.key()}: {old.value:.4g} -> {m.value:.4g} ({(m.value / old.value - 1) * 100:+.1f} %)")
    return "\n".join(lines[:12]) or "no metric in common"
