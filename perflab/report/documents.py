"""The JSON documents that ``perflab sessions|show|compare|history|baseline show --json`` print, for scripts.

What every document guarantees:

* One JSON object on stdout and nothing else; errors still go to stderr as one line with their exit code.
* ``"format": FORMAT`` and ``"perflab_version"`` at the top. FORMAT goes up only when a key is removed or changes
  meaning; new keys may appear without it.
* Stable keys: a value that is unknown is ``null``, never a missing key.
* Numbers are numbers in base units: times are seconds since the epoch (``started``, ``ended``), durations
  seconds, metric values in their metric's ``unit`` (``s``, ``B``, ...), ratios as ratios (1.25, not "+25 %").
  NaN and infinity become ``null``: strict parsers (jq, JavaScript) refuse them.
* A result's table cells are JSON values (text, a number, null, or ``{"value": ..., "unit": ...}`` for a
  number with its unit) and its notes objects ``{"text", "level", "kind"}`` (core.codec); format 2 made them so
  (format 1 had strings for both).
* Secrets never leave the process: the whole document goes through ``core.redact.data`` before it is written.
  Redacting the data rather than the serialised text touches only strings, so a secret that looks like a number
  cannot corrupt the JSON.
"""

from __future__ import annotations

import enum
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from perflab import __version__
from perflab.core import redact
from perflab.core.codec import note_to_dict, result_to_dict
from perflab.core.model import Artifact, Log

if TYPE_CHECKING:  # the statistics (numpy) load only for the documents that compute with them
    from perflab.core.compare import Comparison, MetricComparison
    from perflab.core.stats import ChangePoint, Verdict
    from perflab.store.baselines import Baseline
    from perflab.store.sessions import SessionRow

FORMAT = 2


def envelope(**body: Any) -> dict[str, Any]:
    """A document: the format and version keys first, then ``body``."""
    return {"format": FORMAT, "perflab_version": __version__, **body}


def plain(obj: Any) -> Any:
    """``obj`` as JSON types only: mappings become dicts, tuples lists, enums their value, NaN and infinity None.
    Anything else (a Path, a stray object in a result's data) becomes its ``str``."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, int | str):
        return obj
    if isinstance(obj, enum.Enum):
        return plain(obj.value)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None  # float(): a numpy scalar becomes a plain float
    if isinstance(obj, Mapping):
        return {str(plain(k)): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(x) for x in obj]
    return str(obj)


def dumps(doc: Mapping[str, Any]) -> str:
    """The document as strict JSON text (indented, ASCII), every string redacted."""
    return json.dumps(redact.data(plain(doc)), indent=2, allow_nan=False)


def write(doc: Mapping[str, Any], stream: IO[str] | None = None) -> None:
    """Print the document on ``stream`` (default stdout) followed by a newline."""
    out = stream or sys.stdout
    out.write(dumps(doc) + "\n")
    out.flush()


# ---------------------------------------------------------------- sessions and show


def session_summary(row: SessionRow) -> dict[str, Any]:
    """One session as ``perflab sessions`` lists it: ``started``/``ended`` in seconds since the epoch (``ended``
    null while running), ``duration`` in seconds, ``exit_code`` null until the run ended."""
    return {
        "id": row.id,
        "profile": row.profile,
        "profile_path": row.profile_path,
        "test_type": row.test_type,
        "target": row.target,
        "status": row.status.value,
        "started": row.started,
        "ended": row.ended,
        "duration": row.duration,
        "exit_code": row.exit_code,
        "message": row.message,
        "git": dict(row.git) if row.git else None,
        "perflab_version": row.perflab_version,
    }


def sessions_document(rows: Sequence[SessionRow], store: Path) -> dict[str, Any]:
    """``perflab sessions --json``: the listed sessions, newest first (an empty list for an empty store)."""
    return envelope(store=str(store.absolute()), sessions=[session_summary(r) for r in rows])


def show_document(row: SessionRow, store: Path, logs: Sequence[Log], artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """``perflab show SESSION --json``: the summary plus machine, profile text, the stored result (the same
    shape as ``perflab --headless --json`` writes, null when the run left none), artifacts and the last log
    lines (``t`` in seconds since the session started)."""
    session = session_summary(row)
    session.update(
        machine=dict(row.machine),
        profile_text=row.profile_text,
        result=result_to_dict(row.result) if row.result is not None else None,
        artifacts=[{"t": a.t, "kind": a.kind, "path": a.path, "description": a.description} for a in artifacts],
        logs=[{"t": x.t, "stream": x.stream, "source": x.source, "line": x.line} for x in logs],
    )
    return envelope(store=str(store.absolute()), session=session)


# ---------------------------------------------------------------- compare


def side(ref: str, label: str, b: Baseline) -> dict[str, Any]:
    """One side of a comparison: ``ref`` as given on the command line, what it resolved to. ``path`` is the
    baseline file (null for a session), ``session`` the session it came from (null for an imported file)."""
    return {"ref": ref, "label": label, "profile": b.profile, "test_type": b.test_type, "session": b.session,
            "path": b.path, "source": b.source, "summary_only": b.summary_only,
            "git": dict(b.git) if b.git else None}


def comparison_row(r: MetricComparison) -> dict[str, Any]:
    """``ratio`` is candidate / baseline of the mean of per-process medians (above 1 is slower for times),
    ``ci`` its confidence interval (for instruction counts: the range over processes), ``baseline``/``candidate``
    those means in ``unit``; ``inconclusive``: unstable because the interval is too wide to decide;
    ``plain_ratio``: for a row judged relative to the reference loop, the change of the median in seconds
    (None otherwise)."""
    res = r.result
    plain = None if math.isnan(r.plain_ratio) else r.plain_ratio
    return {"key": r.key, "name": r.name, "labels": dict(r.labels), "subject": r.subject, "unit": r.unit,
            "verdict": r.verdict.value, "ratio": res.ratio, "ci": [res.low, res.high], "p_value": res.p_value,
            "baseline": res.baseline, "candidate": res.candidate, "reason": res.reason,
            "inconclusive": res.inconclusive, "plain_ratio": plain}


def compare_document(c: Comparison, baseline: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, Any]:
    """``perflab compare A B --json``. ``failed`` is true when a metric is slower (the exit code is then 1);
    unstable metrics never fail or pass. ``missing``/``new`` are metric keys on one side only."""
    s = c.settings
    return envelope(
        baseline=dict(baseline),
        candidate=dict(candidate),
        settings={"tolerance": s.tolerance, "max_cv": s.max_cv, "min_processes": s.min_processes,
                  "min_rounds": s.min_rounds, "confidence": s.confidence},
        failed=c.failed,
        counts={v.value: len(c.by_verdict(v)) for v in _verdicts()},
        rows=[comparison_row(r) for r in c.rows],
        machine_differences=list(c.machine_differences),
        missing=list(c.missing),
        new=list(c.new),
        notes=[note_to_dict(n) for n in c.notes()],
    )


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class MetricHistory:
    """One metric key across sessions: ``values`` aligned with the sessions (oldest first, None where the
    session lacks the metric or its value is not finite), ``change_points`` as (index into the sessions, the
    change point found on the finite values)."""

    key: str
    name: str
    labels: tuple[tuple[str, str], ...]
    unit: str
    values: tuple[float | None, ...]
    change_points: tuple[tuple[int, ChangePoint], ...]


def history_document(profile: str, metric: str, alpha: float, rows: Sequence[SessionRow],
                     series: Sequence[MetricHistory]) -> dict[str, Any]:
    """``perflab history PROFILE --json``: ``sessions`` oldest first, and per metric key its ``values``
    (one per session, null where missing) and change points. A change point's ``index`` points into
    ``sessions``: the first session of the new segment; ``before``/``after`` are segment means in ``unit``,
    ``change`` is after / before - 1."""
    return envelope(
        profile=profile,
        metric=metric,
        alpha=alpha,
        sessions=[{"id": r.id, "started": r.started, "status": r.status.value,
                   "commit": (r.git or {}).get("commit")} for r in rows],
        series=[{"key": s.key, "name": s.name, "labels": dict(s.labels), "unit": s.unit, "values": list(s.values),
                 "change_points": [{"index": i, "session": rows[i].id, "before": cp.before, "after": cp.after,
                                    "change": cp.after / cp.before - 1 if cp.before else None,
                                    "p_value": cp.p_value} for i, cp in s.change_points]}
                for s in series],
    )


# ---------------------------------------------------------------- baseline show


def _verdicts() -> type[Verdict]:
    from perflab.core.stats import Verdict

    return Verdict


def baseline_summary(b: Baseline) -> list[dict[str, Any]]:
    """Per metric key with raw samples: processes, rounds, ``center`` (mean of the process medians, in ``unit``;
    "relative" keys are in reference units, not seconds) and ``process_cv`` (coefficient of variation of the
    process medians, a ratio). The text view of ``baseline show`` prints these same numbers."""
    from perflab.core import stats

    unit_of = {m.key(): m.unit for m in b.metrics}
    return [{"key": key, "unit": unit_of.get(key, "s"), "processes": len(procs),
             "rounds": sum(len(p) for p in procs), "center": stats.center(procs),
             "process_cv": stats.cv(stats.process_medians(procs))}
            for key, procs in sorted(b.raw.items())]


def baseline_document(b: Baseline, path: Path, machine_differences: Sequence[str]) -> dict[str, Any]:
    """``perflab baseline show NAME --json``: the file's content (``baseline``, raw samples included), its
    ``summary`` (see baseline_summary) and how this machine differs from the baseline's."""
    from perflab.store.baselines import to_dict as baseline_to_dict

    return envelope(path=str(path), baseline=baseline_to_dict(b), summary=baseline_summary(b),
                    machine_differences=list(machine_differences))
