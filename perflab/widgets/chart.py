"""The run screen's main view: one frozen Snapshot in, one picture out (plotext or text), chosen by test type.

Charts key on stable series names (bench.median, load.rps, load.latency.p95 {endpoint=all}, mem.heap, ...);
a type without those series yet falls back to plotting whatever non-process series it has, or says so.
"""

from __future__ import annotations

import asyncio
import math
import time

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual_plotext.plot import Plot

from perflab.core import units
from perflab.core.aggregate import RunState, SeriesView, Snapshot
from perflab.report import values
from perflab.widgets.fit import middle

MAX_LINES = 4  # more lines than this are unreadable at 80 columns
MIN_INTERVAL = 0.5  # seconds between two chart redraws: a picture is the costliest thing on the screen to paint
REPLAY_INTERVAL = 1.0  # seconds between two redraws of a replay playing: at 1x a bucket spans seconds to minutes
PLOT_MIN_HEIGHT = 6  # lines: a plot with fewer shows no trend
SEEK_JUMP = 5.0  # seconds: a snapshot this far from the last drawn one is a seek, drawn at once


def _xy(s: SeriesView, width: int = 0) -> tuple[list[float], list[float]]:
    """The series' points, averaged down to at most ``width`` (one per column: more only costs render time)."""
    pts = s.points
    if width and len(pts) > width:
        k = -(-len(pts) // width)
        pts = tuple((pts[i][0], sum(p[1] for p in pts[i:i + k]) / len(pts[i:i + k])) for i in range(0, len(pts), k))
    return [p[0] for p in pts], [p[1] for p in pts]


def distribution(snap: Snapshot, width: int, height: int) -> Text | None:
    """Round times per benchmark on one log axis: min ├──█──┤ max with the median as █ (from bench.round
    and bench.median over every process). None when there is no benchmark data yet."""
    rows: dict[str, list[float]] = {}  # name -> [min, max, sum of medians, n medians]
    for s in snap.find("bench.round"):
        r = rows.setdefault(s.label("benchmark", s.key), [math.inf, -math.inf, 0.0, 0.0])
        r[0], r[1] = min(r[0], s.min), max(r[1], s.max)
    for s in snap.find("bench.median"):
        r = rows.setdefault(s.label("benchmark", s.key), [s.last, s.last, 0.0, 0.0])
        r[2] += s.last
        r[3] += 1
    rows = {k: v for k, v in rows.items() if v[0] > 0 and math.isfinite(v[1])}
    if not rows:
        return None
    lo = min(r[0] for r in rows.values())
    hi = max(r[1] for r in rows.values())
    span = math.log(hi / lo) if hi > lo else 1.0
    name_w = min(24, max(len(k) for k in rows))
    bar_w = max(10, width - name_w - 12)

    def col(v: float) -> int:
        return min(bar_w - 1, max(0, int(math.log(v / lo) / span * (bar_w - 1))))

    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"round times, log axis {units.duration(lo)}..{units.duration(hi)}  ├ min  █ median  ┤ max\n",
               style="bold")
    names = sorted(rows)
    shown = names[: max(1, height - 2)]
    for name in shown:
        mn, mx, msum, mcount = rows[name]
        med = msum / mcount if mcount else None
        a, b = col(mn), col(mx)
        line = [" "] * bar_w
        for i in range(a, b + 1):
            line[i] = "─"
        line[a], line[b] = "├", "┤"
        if med is not None:
            line[col(med)] = "█"
        out.append(f"{middle(name, name_w):>{name_w}} ", style="bold")
        out.append("".join(line), style="cyan")
        out.append(f" {units.duration(med) if med is not None else '-':>9}\n")
    if len(names) > len(shown):
        out.append(f"... {len(names) - len(shown)} more (see results)\n", style="dim")
    out.rstrip()
    return out


def top_table(snap: Snapshot, width: int, height: int) -> Table | None:
    """The newest "top ..." table (top functions for CPU, top allocators for memory), cut to the height."""
    tables = [t for name, t in snap.tables.items() if name.startswith("top")]
    if not tables:
        return None
    t = max(tables, key=lambda t: t.t)
    table = Table(title=f"{t.name} at {t.t:.0f} s", title_justify="left", header_style="bold", box=None,
                  padding=(0, 1), expand=True)
    for i, col in enumerate(t.columns):
        table.add_column(str(col), justify="left" if i == 0 else "right", no_wrap=True,
                         overflow="ellipsis", ratio=3 if i == 0 else 1)
    for row in t.rows[: max(1, height - 3)]:
        table.add_row(*(Text(c) for c in values.row(row)))  # Text: function names hold brackets, not markup
    return table


TEXT_VIEWS = {"benchmark": distribution, "cpu": top_table}  # types whose main view is text, not a plot

Line = tuple[list[float], list[float], str, str]  # x (s), y, legend, axis side


ENDPOINT_COLUMNS = {"load.rps": "rps", "load.latency.p50": "p50", "load.latency.p95": "p95", "load.failures": "fail"}


def endpoints(snap: Snapshot) -> dict[str, dict[str, float]]:
    """Endpoint -> column -> latest value, over the load series (one pass: a run can have hundreds of endpoints)."""
    found: dict[str, dict[str, float]] = {}
    for s in snap.series.values():
        col = ENDPOINT_COLUMNS.get(s.name)
        if col is not None:
            found.setdefault(dict(s.labels).get("endpoint", "all"), {})[col] = s.last
    return found


def endpoint_table(snap: Snapshot, width: int, rows: int, found: dict[str, dict[str, float]] | None = None
                   ) -> Table | None:
    """The load run's endpoints now (the latest interval): requests/s, p50, p95 and failures/s, busiest first
    (ties by name), at most ``rows`` endpoints, then all of them together. None before the first interval.
    ``found``: ``endpoints(snap)`` when the caller has it already."""
    found = dict(found if found is not None else endpoints(snap))
    total = found.pop("all", None)
    if not found and total is None:
        return None
    name_w = max(8, width - 4 * 11)
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    table.add_column("endpoint", no_wrap=True, max_width=name_w)
    for col in ("req/s", "p50", "p95", "failures/s"):
        table.add_column(col, justify="right", no_wrap=True)

    def cells(v: dict[str, float]) -> list[str]:
        return [units.rate(v["rps"]) if "rps" in v else "-",
                units.duration(v["p50"]) if "p50" in v else "-",
                units.duration(v["p95"]) if "p95" in v else "-",
                f"{v['fail']:.3g}" if "fail" in v else "-"]

    busiest = sorted(found.items(), key=lambda kv: (-kv[1].get("rps", 0.0), kv[0]))
    for name, v in busiest[:max(1, rows)]:
        table.add_row(middle(name, name_w), *cells(v))
    if len(busiest) > rows:
        table.add_row(Text(f"... {len(busiest) - rows} more", style="dim"), "", "", "", "")
    if total is not None:
        table.add_row(Text("all", style="bold"), *cells(total), style="bold")
    return table


def concurrency_lines(snap: Snapshot, width: int = 0) -> list[Line]:
    """Throughput (calls/s, left axis) and p95 latency (ms, right axis) over time, one line per kind of worker
    (threads, processes, asyncio): a quantity never shares an axis with another. Levels run one after the
    other, so a kind's level series joined in time order are one line that steps at each level."""
    out: list[Line] = []
    for name, unit, scale, side in (("conc.throughput", "calls/s", 1.0, "left"),
                                    ("conc.latency.p95", "p95 ms", 1e3, "right")):
        kinds: dict[str, list[tuple[float, float]]] = {}
        for s in snap.find(name):
            kinds.setdefault(s.label("kind", "all"), []).extend(s.points)
        for kind, pts in sorted(kinds.items()):
            pts.sort()
            if width and len(pts) > width:
                k = -(-len(pts) // width)
                pts = [(pts[i][0], sum(v for _, v in pts[i:i + k]) / len(pts[i:i + k]))
                       for i in range(0, len(pts), k)]
            out.append(([t for t, _ in pts], [v * scale for _, v in pts], f"{kind} {unit}", side))
    return out


class PlotBuilder:
    """Draws one snapshot with plotext into text. Pure and self-contained (its own plotext figure), so it
    runs in a thread: a build takes tens of milliseconds that the event loop must not wait for."""

    def __init__(self, test_type: str, width: int, height: int) -> None:
        self.test_type = test_type
        self.width = max(20, width)
        self.height = max(5, height)
        self.plt = Plot()

    def build(self, snap: Snapshot | None) -> Text:
        plt = self.plt
        plt.plotsize(self.width, self.height)
        plt.theme("clear")  # the terminal's own colours: fits every app theme
        if snap is None:
            plt.title("waiting for data")
        else:
            drew = {
                "load": self._load,
                "stress": self._stress,
                "memory": self._memory,
                "leak": self._memory,
                "concurrency": self._concurrency,
            }.get(self.test_type, self._generic)(snap)
            if not drew and not self._generic(snap):
                plt.title(f"{self.test_type}: no chart data yet")
        return Text.from_ansi(plt.build(), no_wrap=True)

    def _over_time(self, lines: list[tuple[SeriesView, str, float, str]]) -> bool:
        drew = False
        for s, label, scale, side in lines:
            x, y = _xy(s, self.width)
            if x:
                self.plt.plot(x, [v * scale for v in y], label=label, yside=side)
                drew = True
        self.plt.xlabel("s")
        return drew

    def _load(self, snap: Snapshot) -> bool:
        lines = [(s, "req/s", 1.0, "left") for s in snap.find("load.rps", endpoint="all")]
        lines += [(s, "p95 ms", 1e3, "right") for s in snap.find("load.latency.p95", endpoint="all")]
        self.plt.title("requests/s (left) and p95 latency ms (right)")
        return self._over_time(lines)

    def _stress(self, snap: Snapshot) -> bool:
        """p95 against the load of each step: stress.users (or stress.rate) and stress.p95 share timestamps."""
        load = snap.find("stress.users") or snap.find("stress.rate")
        p95 = snap.find("stress.p95")
        if load and p95:
            by_t = dict(load[0].points)
            pairs = sorted((by_t[t], v * 1e3) for t, v in p95[0].points if t in by_t)
            if pairs:
                self.plt.plot([a for a, _ in pairs], [b for _, b in pairs], marker="dot")
                self.plt.title(f"p95 (ms) against load ({'users' if load[0].name == 'stress.users' else 'req/s'})")
                return True
        return self._load(snap)

    def _concurrency(self, snap: Snapshot) -> bool:
        lines = concurrency_lines(snap, self.width)
        for x, y, label, side in lines:
            self.plt.plot(x, y, label=label, yside=side)
        if lines:
            self.plt.title("throughput calls/s (left) and p95 latency ms (right)")
            self.plt.xlabel("s")
        return bool(lines)

    def _memory(self, snap: Snapshot) -> bool:
        """The heap over time (memray's, read from its capture or its live mode); without heap samples (none read
        yet, or memray not importable here) the target's RSS, said so."""
        heap = snap.find("mem.heap") or snap.find("leak.rss") or snap.find("leak.heap")
        title = "heap over time (MiB)"
        if not heap:
            heap = snap.find("proc.rss", role="target") or snap.find("proc.rss")
            title = "RSS of the target over time (MiB; no heap from memray yet)"
        if not heap:
            return False
        x, y = _xy(heap[0], self.width)
        self.plt.plot(x, [v / 2**20 for v in y], label=heap[0].name)
        self.plt.title(title)
        self.plt.xlabel("s")
        return True

    def _generic(self, snap: Snapshot) -> bool:
        own = [s for s in sorted(snap.series.values(), key=lambda s: s.key) if not s.name.startswith("proc.")]
        if not own:
            return False
        names = sorted({s.name for s in own[:MAX_LINES]})
        self.plt.title(", ".join(names))

        def label(s: SeriesView) -> str:  # one series name: it is in the title, the legend tells the labels apart
            text = s.key if len(names) > 1 else s.key[len(s.name):].strip("{}") or s.name
            return middle(text, 24)

        return self._over_time([(s, label(s), 1.0, "left") for s in own[:MAX_LINES]])


def draw(test_type: str, snap: Snapshot, width: int, height: int) -> tuple[Text, Table | None]:
    """The plot and, for a load run, the endpoints table under it (the busiest rows that fit), for a chart of
    ``width`` x ``height`` cells. Pure: runs in a thread."""
    table = None
    if test_type == "load":
        found = endpoints(snap)
        count = len(found.keys() - {"all"})
        rows = min(count, max(1, height - PLOT_MIN_HEIGHT - 3))
        table = endpoint_table(snap, width, rows, found)
        if table is not None:  # header, the rows, "... more", the "all" row
            height -= 1 + rows + (count > rows) + ("all" in found)
    return PlotBuilder(test_type, width, height).build(snap), table


class View(Widget):
    """Shows a prebuilt renderable; a new one repaints without a relayout (the chart's size is fixed)."""

    DEFAULT_CSS = "View { height: 1fr; }"
    auto_links = False  # a plot has no links: spares Textual a pass over each of its thousands of segments

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.content: RenderableType = Text("waiting for data", style="dim")

    def show(self, content: RenderableType) -> None:
        self.content = content
        self.refresh()

    def render(self) -> RenderableType:
        return self.content


class MainChart(Widget):
    """Plotext (built in a thread) for series over time; text views for benchmarks and CPU profiles."""

    DEFAULT_CSS = """
    MainChart { height: 1fr; min-height: 8; padding: 0 1; }
    """

    # repaint=False: the chart paints nothing itself (its View does, when a new picture is ready); a repaint
    # per snapshot would have the whole chart area composed again every frame
    snapshot: reactive[Snapshot | None] = reactive(None, always_update=True, layout=False, repaint=False,
                                                   init=False)

    def __init__(self, test_type: str, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.test_type = test_type
        self.min_interval = MIN_INTERVAL  # seconds between two redraws (the screen sets it); a seek draws at once
        self._drawn = 0.0
        self._pending: Timer | None = None
        self._building = False
        self._stale = False  # a snapshot arrived while a build was in progress
        self._view = View()
        self.last_plot: Text | None = None  # the latest plotext picture (tests read it)
        self.shown_t: float | None = None  # time (s) of the snapshot the picture on screen shows
        self._last_t: float | None = None  # time (s) of the snapshot last drawn

    def compose(self) -> ComposeResult:
        yield self._view

    def watch_snapshot(self, snap: Snapshot | None) -> None:
        # a plot costs milliseconds to build: at most one every min_interval seconds and one at a time. The
        # newest snapshot is drawn when the interval is over, or as soon as the build in progress ends, so the
        # last one is never lost and a burst of snapshots (seek keys held down) costs one build after the current
        if self._building:
            self._stale = True  # _build draws the newest snapshot when it ends
            return
        wait = self.min_interval - (time.monotonic() - self._drawn)
        if snap is not None and self._last_t is not None and abs(snap.t - self._last_t) > SEEK_JUMP:
            wait = 0.0  # a seek: the person is waiting for this picture, not for the next interval
        if wait > 0 and snap is not None and snap.state != RunState.FINISHED:
            if self._pending is None:
                self._pending = self.set_timer(wait, self._draw_latest)
            return
        self._draw(snap)

    def _draw_latest(self) -> None:
        self._pending = None
        self.watch_snapshot(self.snapshot)

    def _draw(self, snap: Snapshot | None) -> None:
        if self._pending is not None:  # drawn now: the timer would draw the same snapshot again
            self._pending.stop()
            self._pending = None
        self._drawn = time.monotonic()
        self._last_t = snap.t if snap is not None else None
        size = self._view.size
        if snap is None:
            self._view.show(Text("waiting for data", style="dim"))
            return
        if self.test_type in TEXT_VIEWS:
            view = TEXT_VIEWS[self.test_type](snap, size.width, size.height)
            if view is not None:
                self._view.show(view)
                self.shown_t = snap.t
                return
        self._building = True
        self.run_worker(self._build(self.test_type, snap, size.width, size.height), group="chart",
                        exit_on_error=False)

    async def _build(self, test_type: str, snap: Snapshot, width: int, height: int) -> None:
        try:
            picture, table = await asyncio.to_thread(draw, test_type, snap, width, height)
        finally:
            self._building = False
            if self._stale:  # snapshots came during the build: the newest is due (at once if a seek or the end)
                self._stale = False
                self.call_later(self._draw_latest)
        self.shown_t = snap.t if snap is not None else None
        if table is None and picture == self._view.content:
            return  # nothing new to paint (a paused replay, series that did not move): the same picture stays
        self.last_plot = picture
        if table is not None:
            picture.rstrip()  # no blank line between the plot and the table
        self._view.show(Group(picture, table) if table is not None else picture)
