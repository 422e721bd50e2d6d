"""The front ends' door to the lab: profiles on disk, stored sessions, recorded runs, replays.

Screens never touch runners or the store; they call these functions. ``run_session`` is the one way a run is
wired (session row, recorder sink, engine, final status), whatever front end watches it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from perflab.core import machine, profiles, redact
from perflab.core.compare import Comparison
from perflab.core.engine import Engine, Outcome, Sink, apply_thresholds
from perflab.core.model import Artifact, ExitCode, Level, Note, Notice, PerflabError, Profile, Result, Status
from perflab.core.replay import Column, ReplayIndex
from perflab.core.stats import Verdict
from perflab.lab import partial
from perflab.lab.baselines import BaselinePolicy, Baselines
from perflab.store.sessions import Recorder, SessionRow, SessionStore, StoreError, default_root


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
CHUNK = 600.0  # seconds of samples per background read


def _columns(st: SessionStore, series: list[tuple[int, str, dict[str, str]]], lo: float, hi: float
             ) -> list[Column]:
    """Samples with lo < t <= hi of each series, read straight into numpy (no Python list of rows)."""
    out = []
    for sid, name, lb in series:
        rows = st.conn.execute("SELECT t, value FROM samples WHERE series=? AND t > ? AND t <= ? ORDER BY t",
                               (sid, lo, hi))
        # the rows flattened by C iterators into one float array: cheaper than a structured dtype row by row
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64)
        if len(flat):
            out.append(Column(name, tuple(sorted(lb.items())), flat[0::2], flat[1::2]))
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
        # max(t) per series is one index probe each; over "series IN (...)" SQLite would scan every entry
        ends = [st.conn.execute("SELECT max(t) FROM samples WHERE series=?", (sid,)).fetchone()[0]
                for sid, _, _ in series]
        end = max((e for e in ends if e is not None), default=0.0)
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


def save_baseline(profile: Profile, outcome: Outcome, folder: str | None = None) -> str:
    """Write a finished, passed run as the profile's baseline (the app's key); what happened, for people.
    A file that is not a readable baseline of this profile is not replaced (PerflabError)."""
    from perflab.lab import baselines

    if outcome.result.status != Status.PASSED:
        path = baselines.files.path_for(profile.name, baselines.files.default_dir(folder))
        return f"baseline not written: the run did not pass ({outcome.result.status.value}); {path} unchanged"
    path = baselines.write(profile.name, profile.test.type, outcome.result, outcome.session_id, folder,
                           machine=machine.fingerprint(), git=machine.git_info())
    return f"baseline written: {path}"


async def run_session(profile: Profile, root: Path | None, sinks: Iterable[Sink], *,
                      plan: Baselines | None = None, on_engine: Callable[[Engine], None] | None = None,
                      workdir: Path | None = None) -> Outcome:
    """Run ``profile`` through the engine, recording it as a session; the one run path of every front end.
    The session always ends with a status.

    Before the engine's Finished event, in this order: the thresholds judge the result; the regression gate
    judges it against the profile's baseline in ``plan`` (lab.baselines; by default the profile's existing
    baseline file, read now); the policy saves or updates the baseline, and a baseline that could not be written
    makes the run an error (exit 3). Every sink, the store and a later replay therefore see the same verdict as
    the returned outcome (whose ``comparison`` is the gate's). Verdict lines reach the sinks as Notices (codes
    ``threshold.breach``, ``baseline.compare``, ``baseline.write``).

    The store failing during the run is shown to the sinks (an error Notice, code ``store.write``) while the run
    goes on and the recorder retries; if the events still cannot be stored at the end, the outcome is an error
    (exit 3) whose message says so, and the session is marked ``error`` when that row can still be written.
    The stored counts go into the result (``data["recorded"]``: samples, logs, events). A run that was stopped
    (interrupted) is marked partial, with what it measured until the stop (lab.partial)."""
    from perflab.core.judge import judge
    from perflab.report import compare as compare_report
    from perflab.runners.framework import base as runner_base  # loaded when a run starts, not with the lab

    workdir = workdir or Path.cwd()
    redact.register_env(profile.secrets)  # from here on every event, result and output hides them
    if plan is None:  # the app: judge against the profile's baseline, write none
        plan = Baselines.prepare(BaselinePolicy(), [profile])
    base = plan.baseline_for(profile)
    comparisons: list[Comparison] = []
    with SessionStore(root or store_root()) as st:
        git = machine.git_info(workdir)
        sid = st.create_session(profile, machine=plan.here, git=git)
        secrets = tuple(os.environ.get(name, "") for name in profile.secrets)
        recorder = st.recorder(sid, secrets)
        engine: Engine
        recorder.on_error = lambda e: engine.sink_failed(recorder, e)

        def finalize(p: Profile, r: Result) -> Result:
            if r.status == Status.INTERRUPTED:  # stopped: what was measured until then, said to be partial
                r = partial.mark(r, measured, engine.now())
            if r.status not in (Status.PASSED, Status.FAILED):  # nothing to judge; the policy still reports
                decision = plan.after(p, r, None, sid, git)
                if decision is not None:
                    engine.emit(Notice(engine.now(), decision.level, decision.message, "baseline.write"))
                return r
            r = apply_thresholds(p, r, engine.emit, engine.now)
            comparison = None
            if base is not None:
                r, comparison = judge(p, r, base, f"session {sid}", plan.here)
                if comparison.rows:
                    r = replace(r, tables=(*r.tables, compare_report.table(comparison)))
                for note in comparison.notes():
                    engine.emit(Notice(engine.now(), note.level, note.text, "baseline.compare"))
                comparisons.append(comparison)
            decision = plan.after(p, r, comparison, sid, git)
            if decision is not None:
                engine.emit(Notice(engine.now(), decision.level, decision.message, "baseline.write"))
                if decision.failed:  # the run passed, but the baseline it should become was not written
                    r = replace(r, status=Status.ERROR, message=decision.message)
            return r

        measured = partial.Measured()
        engine = Engine(profile, [recorder, measured, *sinks], runner_for=runner_base.runner_for,
                        context=functools.partial(runner_base.RunContext, plan=plan.run_plan(profile)),
                        session_id=sid, artifacts_dir=st.artifacts_dir(sid),
                        workdir=workdir, finalize=finalize)
        if on_engine is not None:
            on_engine(engine)
        try:
            outcome = await engine.run()
        except BaseException as e:  # the session must not stay "running"
            if isinstance(e, Exception):  # an internal error (it keeps its traceback)
                ended = Result(Status.ERROR, f"internal error: {type(e).__name__}"), ExitCode.INTERNAL_ERROR
            else:  # cancelled, or Ctrl-C before the engine's own signal handling was in place
                ended = partial.mark(Result(Status.INTERRUPTED, "interrupted"), measured, engine.now()), \
                    ExitCode.INTERRUPTED
            with contextlib.suppress(StoreError):  # the original exception is the one to surface
                _store_outcome(st, recorder, Outcome(sid, ended[0], ended[1], engine.now()), secrets)
            redact.redact_tree(st.artifacts_dir(sid))
            raise
        redact.redact_tree(st.artifacts_dir(sid))  # text artifacts the tools wrote (CSV, JSON, SVG, HTML)
        outcome = _store_outcome(st, recorder, outcome, secrets)
        return replace(outcome, result=redact.result(outcome.result),
                       comparison=comparisons[0] if comparisons else None)


def _store_outcome(st: SessionStore, recorder: Recorder, outcome: Outcome, secrets: tuple[str, ...]) -> Outcome:
    """Store the last events and the session's final status; the outcome as stored. When that fails, the run is an
    error (exit 3, unless it was interrupted or crashed) and the session is marked ``error`` if it still can be."""
    sid = outcome.session_id
    try:
        recorder.flush()  # retried while the store is busy (store.dbfile.WRITE_TIMEOUT)
        result = replace(outcome.result, data={**outcome.result.data, "recorded": dict(recorder.counts)})
        st.finish_session(sid, result, int(outcome.exit_code), outcome.duration, secrets)
        return replace(outcome, result=result)
    except StoreError as e:
        lost = f"; {recorder.pending} events were not stored" if recorder.pending else ""
        message = f"the session store could not record this run: {e}{lost}"
        code = outcome.exit_code if outcome.exit_code in (ExitCode.INTERRUPTED, ExitCode.INTERNAL_ERROR) \
            else ExitCode.RUNNER_ERROR
        with contextlib.suppress(StoreError):
            st.mark_error(sid, message, int(code), outcome.duration)
        notes = (*outcome.result.notes, Note(f"the run itself ended {outcome.result.status.value}"
                                             + (f": {outcome.result.message}" if outcome.result.message else ""),
                                             Level.INFO, "run.store"))
        result = replace(outcome.result, status=Status.ERROR, message=message, notes=notes)
        return replace(outcome, result=result, exit_code=code)


def profile_to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for the ad-hoc form (strings, numbers, booleans, lists, inline tables, one level of
    tables). Keys are bare where TOML allows it (``path = "/echo"``), quoted otherwise."""
    def key(k: Any) -> str:
        return str(k) if re.fullmatch(r"[A-Za-z0-9_-]+", str(k)) else json.dumps(str(k))

    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):  # an inline table (endpoints, env, params)
            return "{ " + ", ".join(f"{key(k)} = {val(x)}" for k, x in v.items()) + " }" if v else "{}"
        return json.dumps(str(v))

    top = [f"{key(k)} = {val(v)}" for k, v in data.items() if not isinstance(v, dict)]
    parts = ["\n".join(top)] if top else []
    for k, v in data.items():
        if isinstance(v, dict):
            parts.append(f"[{key(k)}]\n" + "\n".join(f"{key(kk)} = {val(vv)}" for kk, vv in v.items()))
    return "\n\n".join(parts) + "\n"


def session_artifacts(root: Path | None, sid: str) -> list[Artifact]:
    with SessionStore(root or store_root(), readonly=True) as st:
        return st.artifacts(sid)


def get_session(root: Path | None, ref: str) -> SessionRow:
    with SessionStore(root or store_root(), readonly=True) as st:
        return st.get(ref)


class CompareVerdict(StrEnum):
    """What comparing two sessions concluded. INCONCLUSIVE: there were metrics, but none could be judged
    (every one unstable or not comparable), so neither a pass nor a failure can be claimed."""

    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


@dataclass(frozen=True)
class SessionComparison:
    """Session ``candidate`` judged against session ``baseline``; ``result`` holds the tables and notes to show."""

    baseline: str
    candidate: str
    verdict: CompareVerdict
    result: Result


def comparison_verdict(c: Comparison) -> CompareVerdict:
    """Failed when a metric is slower; passed only when at least one metric was judged; else inconclusive
    (the same rule as the regression gate's note, core.compare.Comparison.notes)."""
    if c.failed:
        return CompareVerdict.FAILED
    if any(r.verdict != Verdict.UNSTABLE for r in c.rows):
        return CompareVerdict.PASSED
    return CompareVerdict.INCONCLUSIVE


def compare_sessions(root: Path | None, a: str, b: str) -> SessionComparison:
    """Session ``b`` judged against session ``a`` (core.compare on their raw samples)."""
    from perflab.core.compare import compare
    from perflab.report import compare as compare_report

    ra, rb = get_session(root, a), get_session(root, b)
    if ra.result is None or rb.result is None or not ra.result.raw or not rb.result.raw:
        return SessionComparison(ra.id, rb.id, CompareVerdict.ERROR, Result(
            Status.ERROR, "both sessions need a stored result with raw samples to compare"))
    c = compare(ra.result.raw, rb.result.raw, base_metrics=ra.result.metrics, cand_metrics=rb.result.metrics,
                base_machine=ra.machine, cand_machine=rb.machine, baseline_label=f"session {ra.id}",
                candidate_label=f"session {rb.id}")
    verdict = comparison_verdict(c)
    status = {CompareVerdict.FAILED: Status.FAILED, CompareVerdict.PASSED: Status.PASSED}.get(verdict, Status.ERROR)
    return SessionComparison(ra.id, rb.id, verdict, Result(
        status, c.summary(), tables=(compare_report.table(c),) if c.rows else (), notes=tuple(c.notes())))
