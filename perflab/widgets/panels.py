"""Small panels of the run screen; each renders one frozen Snapshot held in a reactive."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

from perflab.core import units
from perflab.core.aggregate import Check, RunState, SeriesView, Snapshot
from perflab.core.model import Status

BLOCKS = " ▁▂▃▄▅▆▇█"

PROC_SERIES = (  # series, title, formatter
    ("proc.cpu", "CPU", lambda v: units.percent(v, 0)),
    ("proc.rss", "RSS", units.size),
    ("proc.threads", "threads", lambda v: f"{v:.0f}"),
    ("proc.fds", "fds", lambda v: f"{v:.0f}"),
)


def sparkline(values: list[float], width: int) -> str:
    """Unicode block sparkline of the last ``width`` values, scaled to their own min..max."""
    values = values[-width:]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(BLOCKS[1 + int((v - lo) / span * (len(BLOCKS) - 2))] for v in values)


ROLES = ("target", "server")  # the measured process, else the served one (load, stress), else any


def measured_role(snap: Snapshot) -> str | None:
    """The role of the process tree the process panel shows: ``target``, else ``server``, else the first found."""
    for role in ROLES:
        if snap.find("proc.cpu", role=role) or snap.find("proc.rss", role=role):
            return role
    found = snap.find("proc.cpu") or snap.find("proc.rss")
    return found[0].label("role") or None if found else None


def _target(snap: Snapshot, name: str, role: str | None = None) -> SeriesView | None:
    found = snap.find(name, role=role) if role else snap.find(name, role="target") or snap.find(name)
    return found[0] if found else None


def format_metric(metric: str, value: float) -> str:
    """A live threshold value with the unit its metric name implies (latencies in s, memory in B)."""
    name = metric.rsplit(".", 1)[-1]
    if name in ("median", "mean", "min", "max") or name.startswith("p") and name[1:].isdigit():
        return units.duration(value)
    if "rss" in name or "memory" in name or "heap" in name:
        return units.size(value)
    if name in ("rps", "ops", "throughput"):
        return units.rate(value)
    if name.endswith("rate"):
        return units.percent(value)
    return f"{value:.4g}"


class SnapshotPanel(Widget):
    """Renders its snapshot; a new one repaints the panel without a relayout (its size never depends on the
    data, unlike Static.update which asks for a layout of the whole screen 10 times a second), and only when
    the text it shows changed: turning a panel into lines is most of a frame's cost, and many snapshots
    change nothing a panel shows (no new log line, the same threshold states)."""

    snapshot: reactive[Snapshot | None] = reactive(None, always_update=True, layout=False, repaint=False)
    auto_links = False  # no links in a panel: spares Textual a pass over every segment of every line

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self._shown: RenderResult | None = None  # what render() returned last
        # the text watch_snapshot made to compare, for render() to reuse: (snapshot, size, extra, text)
        self._made: tuple[Snapshot, object, str, Text | Table] | None = None

    def _key(self) -> tuple[object, str]:
        """What a render depends on besides the snapshot: the size, and the status line's extra text."""
        return self.size, getattr(self, "extra", "")

    def watch_snapshot(self, snap: Snapshot | None) -> None:
        if snap is None or self._shown is None or not isinstance(self._shown, Text):
            self.refresh()
            return
        text = self.render_snapshot(snap)
        self._made = (snap, *self._key(), text)
        if text != self._shown:  # rich Text compares its characters and styles
            self.refresh()

    def render(self) -> RenderResult:
        snap = self.snapshot
        made = self._made
        if snap is None:
            self._shown = Text("waiting", style="dim")
        elif made is not None and made[0] is snap and made[1:3] == self._key():
            self._shown = made[3]
        else:
            self._shown = self.render_snapshot(snap)
        self._made = None
        return self._shown

    def render_snapshot(self, snap: Snapshot) -> Text | Table:
        raise NotImplementedError


class ProcessPanel(SnapshotPanel):
    """CPU %, RSS, threads and fds of the target's process tree: sparkline plus current value."""

    DEFAULT_CSS = "ProcessPanel { height: 6; border: round $primary; padding: 0 1; }"

    def render_snapshot(self, snap: Snapshot) -> Text:
        width = max(8, self.content_size.width - 19)  # title 8, value 11
        role = measured_role(snap)
        title = "process" if role in (None, "target") else f"process: {role}"
        if self.border_title != title:
            self.border_title = title  # e.g. "process: server" in a load run, whose target is served
        out = Text()
        for series, title, fmt in PROC_SERIES:
            s = _target(snap, series, role)
            out.append(f"{title:<8}", style="bold")
            if s is None:
                out.append("-\n", style="dim")
                continue
            out.append(sparkline([p[1] for p in s.points], width), style="cyan")
            out.append(f" {fmt(s.last):>10}\n")
        out.rstrip()
        return out


class ThresholdsPanel(SnapshotPanel):
    DEFAULT_CSS = "ThresholdsPanel { height: 6; border: round $primary; padding: 0 1; }"
    STYLE = {Check.OK: "green", Check.BREACHED: "bold red", Check.PENDING: "dim"}

    def render_snapshot(self, snap: Snapshot) -> Text:
        if not snap.thresholds:
            return Text("no thresholds in this profile", style="dim")
        out = Text(no_wrap=True, overflow="ellipsis")
        room = max(8, self.content_size.width - 19)  # value 9, state 8, two spaces
        for th in snap.thresholds:
            val = "-" if th.value is None else format_metric(th.metric, th.value)
            out.append(f"{th.text[:room]:<{room}} {val:>9} ")
            out.append(th.state.value, style=self.STYLE[th.state])
            out.append("\n")
        out.rstrip()
        return out


class LogPanel(SnapshotPanel):
    """The tail of the runner's stdout/stderr and the notices."""

    DEFAULT_CSS = "LogPanel { height: 1fr; border: round $primary; padding: 0 1; }"

    def render_snapshot(self, snap: Snapshot) -> Text:
        lines = max(1, self.size.height - 2)
        out = Text(no_wrap=True, overflow="ellipsis")
        merged = sorted([(lg.t, lg.source, lg.line, "red" if lg.stream == "stderr" else "")
                         for lg in snap.logs[-lines:]]
                        + [(n.t, n.level.value, n.message, "bold yellow") for n in snap.notices[-lines:]])
        for t, src, line, style in merged[-lines:]:
            out.append(f"{t:6.1f} ", style="dim")
            out.append(f"{src[:10]:<10} ", style="dim")
            out.append(line + "\n", style=style)
        out.rstrip()
        return out if merged else Text("no output yet", style="dim")


STATE_STYLE = {Status.PASSED: "bold green", Status.FAILED: "bold red", Status.ERROR: "bold red",
               Status.CRASHED: "bold red", Status.INTERRUPTED: "bold yellow"}


class StatusLine(SnapshotPanel):
    """Elapsed time, state, phase and progress on one line. After a stop was asked for it says "stopping" until
    the run ends; a run that ended stopped says how far it got ("INTERRUPTED at 58%"), never a bare percentage
    that reads as a frozen progress bar."""

    DEFAULT_CSS = "StatusLine { height: 1; padding: 0 1; background: $boost; }"
    extra: reactive[str] = reactive("", layout=False)
    stopping: reactive[bool] = reactive(False, layout=False)

    def render_snapshot(self, snap: Snapshot) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"{units.duration(snap.t) if snap.t else '0 s':>8} ", style="bold")
        status = snap.status if snap.state == RunState.FINISHED else None
        if status is not None:
            out.append(status.value.upper(), style=STATE_STYLE.get(status, ""))
        elif self.stopping:
            out.append("stopping", style="bold yellow")
        else:
            out.append(snap.state.value, style="cyan")
        if status == Status.INTERRUPTED:
            if snap.progress is not None:
                out.append(f" at {snap.progress * 100:.0f}%")
        elif snap.progress is not None:
            out.append(f" {snap.progress * 100:3.0f}%")
        if self.extra:
            out.append(f"  {self.extra}", style="magenta")
        out.append(f"  {snap.message or snap.detail}", style="dim")
        return out
