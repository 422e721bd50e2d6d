"""Commands around baselines: ``baseline save|show|import``, ``compare A B``, ``history PROFILE``, ``ci github``.

Each returns an exit code; user mistakes raise PerflabError (one line, exit 2) and cli.main prints them.
``baseline show``, ``compare`` and ``history`` print tables, or with ``as_json`` one JSON document
(perflab.report.documents) computed from the same numbers, with the same exit code.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.text import Text

from perflab.core import machine, units
from perflab.core.model import ExitCode, PerflabError, Status
from perflab.report import documents, values
from perflab.report.console import make_console, rich_table
from perflab.store import baselines
from perflab.store.baselines import Baseline
from perflab.store.sessions import SessionRow, SessionStore, default_root


def _session_baseline(store_dir: str | None, ref: str) -> Baseline:
    with SessionStore(default_root(store_dir), readonly=True) as store:
        row = store.get(ref)
    if row.result is None or row.status not in (Status.PASSED, Status.FAILED):
        raise PerflabError(f"session {row.id} has no result to compare ({row.status.value})")
    return baselines.from_result(row.profile, row.test_type, row.result, machine=row.machine, git=row.git,
                                 session=row.id)


def baseline_save(store_dir: str | None, ref: str, folder: str | None, *, allow_failed: bool = False) -> int:
    with SessionStore(default_root(store_dir), readonly=True) as store:
        row = store.get(ref)
    if row.result is None:
        raise PerflabError(f"session {row.id} has no result ({row.status.value})")
    if row.status != Status.PASSED and not allow_failed:
        raise PerflabError(f"session {row.id} did not pass ({row.status.value}); a baseline must be a passing run "
                           "(--allow-failed overrides)")
    from perflab.lab import baselines as policy  # the one writer of baseline files

    path = policy.write(row.profile, row.test_type, row.result, row.id, folder, machine=row.machine, git=row.git)
    make_console().print(f"baseline written: {path} (from session {row.id})")
    return 0


def _resolve_file(name: str, folder: str | None) -> Path:
    p = Path(name)
    if p.suffix == ".json" or p.exists():
        return p
    return baselines.path_for(name, baselines.default_dir(folder))


def baseline_show(name: str, folder: str | None, *, as_json: bool = False) -> int:
    path = _resolve_file(name, folder)
    b = baselines.read(path)
    diffs = machine.differences(dict(b.machine), machine.fingerprint())
    if as_json:
        documents.write(documents.baseline_document(b, path, diffs))
        return 0
    console = make_console()
    git = b.git or {}
    console.print(f"[bold]{b.label()}[/]  file {path}")
    console.print(f"test type {b.test_type or '?'}, source {b.source}, perflab {b.perflab_version}, "
                  f"session {b.session or '-'}")
    console.print(f"machine: {b.machine.get('cpu')} x{b.machine.get('cores')}, Python {b.machine.get('python')}, "
                  f"{b.machine.get('os', '')}; git {str(git.get('commit') or '-')[:12]}"
                  f"{' (dirty)' if git.get('dirty') else ''}")
    if diffs:
        console.print("[yellow]taken on another machine than this one: " + "; ".join(diffs) + "[/]")
    from perflab.core.model import Quantity, SummaryTable

    rows = [(s["key"], s["processes"], s["rounds"], Quantity(s["center"], s["unit"]), Quantity(s["process_cv"], "%"))
            for s in documents.baseline_summary(b)]
    console.print(rich_table(SummaryTable("raw samples kept", ("metric", "processes", "rounds",
                                                               "mean of process medians", "process CV"),
                                          tuple(rows))))
    return 0


def baseline_import(files: list[str], profile: str, folder: str | None) -> int:
    b = baselines.import_pytest_benchmark(files, profile)
    path = baselines.write(b, baselines.path_for(profile, baselines.default_dir(folder)))
    n = len(b.raw)
    note = " (summaries only: no --benchmark-save-data)" if b.summary_only else ""
    make_console().print(f"imported {n} benchmarks from {len(files)} file(s) into {path}{note}")
    return 0


def _side(ref: str, store_dir: str | None, folder: str | None) -> Baseline:
    """A baseline file, a baseline name in the baseline folder, or a stored session."""
    p = Path(ref)
    if p.suffix == ".json" or p.is_file():
        return baselines.read(p)
    try:
        return _session_baseline(store_dir, ref)
    except PerflabError as e:
        candidate = baselines.path_for(ref, baselines.default_dir(folder))
        if candidate.exists():
            return baselines.read(candidate)
        raise PerflabError(f"{ref}: not a baseline file, a baseline name or a session ({e})") from None


def compare_cmd(a: str, b: str, store_dir: str | None, folder: str | None, tolerance: float | None,
                max_cv: float = 0.10, *, as_json: bool = False) -> int:
    """Exit 1 when a metric of ``b`` is slower than in ``a`` (0 otherwise, also with ``as_json``)."""
    base, cand = _side(a, store_dir, folder), _side(b, store_dir, folder)
    # the statistics (numpy) load only once there is data to compare
    from perflab.core.compare import Comparison, compare
    from perflab.core.stats import GateSettings
    from perflab.report import compare as compare_report

    if tolerance is None:  # the gate's default for what is compared: 0.5 % for instruction counts, else 5 %
        from perflab.core import counts

        shared = {m.unit for m in (*base.metrics, *cand.metrics) if m.key() in base.raw and m.key() in cand.raw}
        tolerance = counts.TOLERANCE if shared and all(counts.is_count(u) for u in shared) else 0.05
    settings = GateSettings(tolerance=tolerance, max_cv=max_cv)
    c: Comparison = compare(base.raw, cand.raw, base_metrics=base.metrics, cand_metrics=cand.metrics,
                            settings=settings, base_machine=base.machine, cand_machine=cand.machine,
                            baseline_label=_name(a, base), candidate_label=_name(b, cand),
                            baseline_summary_only=base.summary_only)
    if not c.rows:
        raise PerflabError(f"{a} and {b} have no metric with raw samples in common")
    code = int(ExitCode.FAILED if c.failed else ExitCode.OK)
    if as_json:
        documents.write(documents.compare_document(c, documents.side(a, c.baseline, base),
                                                   documents.side(b, c.candidate, cand)))
        return code
    console = make_console()
    console.print(rich_table(compare_report.table(c)))
    for n in c.notes():
        console.print(Text(n.text, style=values.note_style(n)))
    return code


def _name(ref: str, b: Baseline) -> str:
    return f"session {b.session}" if b.session and not ref.endswith(".json") else f"{ref} ({b.profile})"


def history(profile: str, metric: str, store_dir: str | None, limit: int, alpha: float, *,
            as_json: bool = False) -> int:
    with SessionStore(default_root(store_dir), readonly=True) as store:
        rows = [r for r in store.sessions(profile=profile, limit=limit)
                if r.result is not None and r.status in (Status.PASSED, Status.FAILED)]
    if not rows:
        raise PerflabError(f"no finished sessions of profile {profile!r} in {default_root(store_dir)}")
    rows.reverse()  # oldest first
    series = metric_history(rows, metric, alpha)
    if not series:
        raise PerflabError(f"the sessions of {profile!r} have no metric {metric!r}")
    if as_json:
        documents.write(documents.history_document(profile, metric, alpha, rows, series))
        return 0
    from perflab.core.model import SummaryTable

    marks = {(s.key, i): "▲" if cp.after > cp.before else "▼" for s in series for i, cp in s.change_points}
    lines = [f"change point in {s.key} at session {rows[i].id}: {cp.before:.4g} -> {cp.after:.4g} "
             f"({(cp.after / cp.before - 1 if cp.before else math.nan) * 100:+.1f} %), p = {cp.p_value:.3f}"
             for s in series for i, cp in s.change_points]
    table_rows = []
    for i, r in enumerate(rows):
        git = (r.git or {}).get("commit") or ""
        cells = [r.id, time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)), git[:8], r.status.value]
        for s in series:
            v = s.values[i]
            cells.append(("-" if v is None else units.value(v, s.unit))
                         + (" " + marks[(s.key, i)] if (s.key, i) in marks else ""))
        table_rows.append(tuple(cells))
    short = [s.key.partition("{")[2].rstrip("}") or s.key for s in series]
    console = make_console()
    console.print(rich_table(SummaryTable(f"{profile}: {metric} across {len(rows)} sessions "
                                          "(▲▼ change point, E-Divisive means)",
                                          ("session", "started", "commit", "status", *short), tuple(table_rows))))
    for line in lines or ["no change points found"]:
        console.print(line, markup=False)
    return 0


def metric_history(rows: Sequence[SessionRow], metric: str, alpha: float) -> list[documents.MetricHistory]:
    """Every key of ``metric`` across ``rows`` (oldest first), with the change points (E-Divisive means, at
    significance ``alpha``) of its finite values; empty when no session has the metric."""
    from perflab.core import stats

    out = []
    keys = sorted({m.key() for r in rows if r.result is not None for m in r.result.metrics if m.name == metric})
    for key in keys:
        found = [next((m for m in r.result.metrics if m.key() == key), None) if r.result is not None else None
                 for r in rows]
        values = tuple(m.value if m is not None and math.isfinite(m.value) else None for m in found)
        first = next(m for m in found if m is not None)
        idx = [i for i, v in enumerate(values) if v is not None]
        points = stats.change_points([v for v in values if v is not None], alpha=alpha)
        out.append(documents.MetricHistory(key, first.name, first.labels, first.unit, values,
                                           tuple((idx[cp.index], cp) for cp in points)))
    return out


def ci_github(profiles: str, python: str | None, install: str | None, branch: str) -> int:
    """Print the workflow `perflab init` writes, for the project in the current folder.

    ``python`` None is the running interpreter's version and ``install`` None the requirement this perflab was
    installed from; a local one gets a warning on stderr, since a hosted runner cannot reach it."""
    from perflab.scaffold import workflow

    requirement = install or workflow.install_requirement()
    sys.stdout.write(workflow.render_workflow(install=requirement, python=python or workflow.default_python(),
                                              profiles=profiles, branch=branch, project_root=Path.cwd()))
    warning = workflow.local_warning(requirement)
    if warning:  # the workflow is still printed: right for this machine, only not for a hosted runner
        print(warning, file=sys.stderr)
    note = workflow.timed_note(workflow.timed_benchmarks(Path.cwd(), profiles))
    if note:
        print(note, file=sys.stderr)
    return 0
