"""``perflab replay SESSION --headless``: the stored session's summary and a compact timeline, as text."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from perflab.core import units
from perflab.core.aggregate import SeriesView
from perflab.core.model import Finished, Notice, Phase
from perflab.lab import session as lab
from perflab.report.console import make_console, print_result

BLOCKS = " ▁▂▃▄▅▆▇█"
MAX_PHASES = 12
PER_FAMILY = 6  # series of one name listed one by one; above that, the 5 largest and one row for the rest
UNIT_OF = {"proc.rss": "B", "mem.heap": "B", "proc.cpu": "%", "bench.round": "s", "bench.median": "s"}


def spark(values: list[float], width: int = 24) -> str:
    if not values:
        return ""
    step = max(1, len(values) // width)
    vals = [sum(values[i:i + step]) / len(values[i:i + step]) for i in range(0, len(values), step)][:width]
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    return "".join(BLOCKS[1 + int((v - lo) / span * (len(BLOCKS) - 2))] for v in vals)


def families(series: Iterable[SeriesView]) -> list[tuple[str, list[SeriesView]]]:
    """Series grouped by name (a family: ``proc.cpu`` of every process, ``bench.round`` of every benchmark), the
    process monitor's first, other live series next, per-benchmark round series last; every family is kept."""
    groups: dict[str, list[SeriesView]] = {}
    for s in series:
        groups.setdefault(s.name, []).append(s)
    order = sorted(groups, key=lambda n: (0 if n.startswith("proc.") else 2 if n.startswith("bench.") else 1, n))
    return [(n, groups[n]) for n in order]


def _fmt(name: str, v: float) -> str:
    unit = UNIT_OF.get(name) or ("s" if ".latency" in name else "/s" if name.endswith("rps") else "")
    if unit == "%":
        return units.percent(v, 0)
    return units.value(v, unit)


def cmd_replay_headless(store: str | None, ref: str) -> int:
    console = make_console()
    row, index = lab.load_replay(lab.store_root(store), ref)
    if row.result is not None:
        print_result(console, row.profile, row.result, row.id, row.duration)
    else:
        console.print(f"{row.profile}: {row.status.value} (no stored result) session {row.id}")
    console.print(f"[bold]timeline[/] ({units.duration(index.duration)}, {index.samples:,} samples)")
    marks = [e for e in index.others if isinstance(e, Phase | Notice | Finished)]
    phases = [e for e in marks if isinstance(e, Phase)]
    if len(phases) > MAX_PHASES:  # keep the first, the last and an even spread between
        keep = {id(phases[round(i * (len(phases) - 1) / (MAX_PHASES - 1))]) for i in range(MAX_PHASES)}
        marks = [e for e in marks if not isinstance(e, Phase) or id(e) in keep]
    for e in marks:
        if isinstance(e, Phase):
            pct = f" {e.progress * 100:3.0f}%" if e.progress is not None else ""
            console.print(f"  {e.t:8.2f} s  phase {e.name}{pct}  {e.detail}", markup=False)
        elif isinstance(e, Notice):
            console.print(f"  {e.t:8.2f} s  {e.level.value}: {e.message}", markup=False)
        else:
            console.print(f"  {e.t:8.2f} s  finished: {e.status.value} {e.message}", markup=False)
    snap = index.snapshot_at(index.duration)
    table = Table(header_style="bold", title="series over the run", title_justify="left")
    for col in ("series", "n", "min", "mean", "max", "over time"):
        table.add_column(col, justify="left" if col in ("series", "over time") else "right")
    for i, (name, members) in enumerate(families(snap.series.values())):
        if i:
            table.add_section()
        shown = members if len(members) <= PER_FAMILY else \
            sorted(members, key=lambda s: s.max, reverse=True)[:PER_FAMILY - 1]
        for s in sorted(shown, key=lambda s: s.key):
            table.add_row(s.key, f"{s.count:,}", _fmt(name, s.min), _fmt(name, s.mean), _fmt(name, s.max),
                          spark([p[1] for p in s.points]))
        listed = {id(s) for s in shown}
        rest = [s for s in members if id(s) not in listed]
        if rest:  # the family still shows, with the range of the series not listed one by one
            n = sum(s.count for s in rest)
            mean = sum(s.mean * s.count for s in rest) / n if n else float("nan")
            table.add_row(f"... {len(rest)} more {name} series", f"{n:,}", _fmt(name, min(s.min for s in rest)),
                          _fmt(name, mean), _fmt(name, max(s.max for s in rest)), "")
    console.print(table)
    return 0
