"""The run screen's main chart: one frozen Snapshot in, one plotext picture out, chosen by test type.

Charts key on stable series names (bench.median, load.rps, load.latency.p95 {endpoint=all}, mem.heap, ...);
a type without those series yet falls back to plotting whatever non-process series it has, or says so.
"""

from __future__ import annotations

from textual.reactive import reactive
from textual_plotext import PlotextPlot

from perflab.core.aggregate import SeriesView, Snapshot

MAX_LINES = 4  # more lines than this are unreadable at 80 columns


def _xy(s: SeriesView) -> tuple[list[float], list[float]]:
    return [p[0] for p in s.points], [p[1] for p in s.points]


class MainChart(PlotextPlot):
    DEFAULT_CSS = "MainChart { height: 1fr; min-height: 8; }"

    snapshot: reactive[Snapshot | None] = reactive(None, always_update=True)

    def __init__(self, test_type: str, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.test_type = test_type

    def watch_snapshot(self, snap: Snapshot | None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if snap is None:
            plt.title("waiting for data")
        else:
            drew = {
                "benchmark": self._benchmark,
                "load": self._load,
                "stress": self._stress,
                "memory": self._memory,
                "leak": self._memory,
            }.get(self.test_type, self._generic)(snap)
            if not drew and not self._generic(snap):
                plt.title(f"{self.test_type}: no chart data yet")
        self.refresh()

    # -- per test type ------------------------------------------------------------
    def _benchmark(self, snap: Snapshot) -> bool:
        medians: dict[str, list[float]] = {}
        for s in snap.find("bench.median"):
            medians.setdefault(s.label("benchmark", s.key), []).append(s.last)
        if not medians:
            return False
        names = sorted(medians)
        values = [sum(medians[n]) / len(medians[n]) * 1e6 for n in names]
        short = [n.removeprefix("test_")[-18:] for n in names]
        self.plt.bar(short, values, orientation="horizontal", width=0.3)
        self.plt.title("median round time per benchmark (µs, mean over processes)")
        return True

    def _over_time(self, lines: list[tuple[SeriesView, str, float, str]]) -> bool:
        drew = False
        for s, label, scale, side in lines:
            x, y = _xy(s)
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
        users = snap.find("stress.users") or snap.find("load.users")
        p95 = snap.find("load.latency.p95", endpoint="all") or snap.find("stress.p95")
        if users and p95:
            self.plt.plot(*_xy(users[0]), label="users")
            x, y = _xy(p95[0])
            self.plt.plot(x, [v * 1e3 for v in y], label="p95 ms", yside="right")
            self.plt.title("load (users, left) vs p95 ms (right)")
            return True
        return self._load(snap)

    def _memory(self, snap: Snapshot) -> bool:
        heap = snap.find("mem.heap") or snap.find("leak.rss") or snap.find("leak.heap")
        if not heap:
            return False
        x, y = _xy(heap[0])
        self.plt.plot(x, [v / 2**20 for v in y], label=heap[0].name)
        self.plt.title("heap over time (MiB)")
        self.plt.xlabel("s")
        return True

    def _generic(self, snap: Snapshot) -> bool:
        own = [s for s in sorted(snap.series.values(), key=lambda s: s.key) if not s.name.startswith("proc.")]
        if not own:
            return False
        self.plt.title(", ".join(sorted({s.name for s in own[:MAX_LINES]})))
        return self._over_time([(s, s.key[-24:], 1.0, "left") for s in own[:MAX_LINES]])
