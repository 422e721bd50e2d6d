"""``perflab replay SESSION --headless``: the stored session's summary and a compact timeline, as text."""

from __future__ import annotations

from rich.table import Table

from perflab.core import units
from perflab.core.model import Finished, Notice, Phase
from perflab.lab import session as lab
from perflab.report.console import make_console, print_result

BLOCKS = " ▁▂▃▄▅▆▇█"
MAX_PHASES = 12
MAX_SERIES = 24
UNIT_OF = {"proc.rss": "B", "mem.heap": "B", "proc.cpu": "%", "bench.round": "s", "bench.median": "s"}


def spark(values: list[float], width: int = 24) -> str:
    if not values:
        return ""
    step = max(1, len(values) // width)
    vals = [sum(values[i:i + step]) / len(values[i:i + step]) for i in range(0, len(values), step)][:width]
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    return "".join(BLOCKS[1 + int((v - lo) / span * (len(BLOCKS) - 2))] for v in vals)


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
    # series over time first (process, load, memory); per-benchmark round series, one per size, last
    for s in sorted(snap.series.values(), key=lambda s: (s.name.startswith("bench."), s.key))[:MAX_SERIES]:
        table.add_row(s.key, f"{s.count:,}", _fmt(s.name, s.min), _fmt(s.name, s.mean), _fmt(s.name, s.max),
                      spark([p[1] for p in s.points]))
    console.print(table)
    if len(snap.series) > MAX_SERIES:
        console.print(f"  ... and {len(snap.series) - MAX_SERIES} more series")
    return 0
