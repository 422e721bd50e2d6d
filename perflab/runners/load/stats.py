"""The load runner's arithmetic: the plugin's per-second ticks folded into per-endpoint HDR histograms.

Each tick carries, per endpoint, the interval's request and failure counts and its histogram (HDR-encoded,
microseconds, 3 significant digits). ``add_tick`` adds them to the run's cumulative histograms and returns
the interval merged over endpoints (``Window``), which the stress runner judges steps on; ``emit_tick`` turns
a tick into the ``load.*`` samples. Percentiles are always read from merged histograms, never averaged.

Per user level (``LoadStats.levels``) only steady intervals count: a full interval whose user count equals the
previous interval's. An interval during which users were spawned or stopped (ramp-up, a step change, the
shutdown) mixes loads, and its throughput and latency belong to no single level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from perflab.runners.agents.wire import Tick
from perflab.runners.framework.base import RunContext

STEADY_DT = 0.5  # s: a shorter interval is the final flush at a stop, not a full interval of load
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0))
LOWEST_US, HIGHEST_US, DIGITS = 1, 3_600_000_000, 3  # as in runners/agents/locust_plugin.py


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def percentiles(h: HdrHistogram) -> dict[str, float]:
    """p50..p99 and max in seconds (0 for an empty histogram)."""
    if h.get_total_count() == 0:
        return {**{k: 0.0 for k, _ in PERCENTILES}, "max": 0.0}
    vals = h.get_percentile_to_value_dict([q for _, q in PERCENTILES])
    out = {k: vals[q] / 1e6 for k, q in PERCENTILES}
    out["max"] = h.get_max_value() / 1e6
    return out


@dataclass
class Window:
    """One streamed interval, all endpoints merged: what stress steps are judged on."""

    t: float
    dt: float
    users: int
    requests: int
    failures: int
    hist: HdrHistogram
    errors: dict[str, int]


@dataclass
class LoadStats:
    """Cumulative per-endpoint histograms and counts, built from the plugin's ticks."""

    hist: dict[str, HdrHistogram] = field(default_factory=dict)
    count: dict[str, list[int]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0  # seconds covered by ticks that carried requests or users
    ticks: int = 0
    peak_users: int = 0
    series_p95: list[float] = field(default_factory=list)  # per interval, for baselines' raw samples
    series_rps: list[float] = field(default_factory=list)
    # per user level, steady intervals only: [requests, seconds, histogram] -- core.bottleneck.load_limit
    # reads it
    levels: dict[int, list[Any]] = field(default_factory=dict)
    last_users: int = -1  # users of the previous tick

    def total(self) -> tuple[int, int]:
        return sum(c[0] for c in self.count.values()), sum(c[1] for c in self.count.values())

    def merged(self) -> HdrHistogram:
        h = new_histogram()
        for x in self.hist.values():
            h.add(x)
        return h


def add_tick(stats: LoadStats, tick: Tick, t: float) -> Window:
    """Fold one tick into ``stats``; return the interval merged over endpoints."""
    window = Window(t, float(tick.dt or 0.0), int(tick.users or 0), 0, 0, new_histogram(),
                    {k: int(v) for k, v in (tick.errors or {}).items()})
    for endpoint, ep in (tick.endpoints or {}).items():
        h = HdrHistogram.decode(ep["h"])
        if endpoint not in stats.hist:
            stats.hist[endpoint] = new_histogram()
            stats.count[endpoint] = [0, 0]
        stats.hist[endpoint].add(h)
        window.hist.add(h)
        stats.count[endpoint][0] += int(ep["n"])
        stats.count[endpoint][1] += int(ep["f"])
        window.requests += int(ep["n"])
        window.failures += int(ep["f"])
    for kind, n in window.errors.items():
        stats.errors[kind] = stats.errors.get(kind, 0) + n
    stats.ticks += 1
    stats.peak_users = max(stats.peak_users, window.users)
    if window.requests or window.users:
        stats.elapsed += window.dt
    steady = window.users == stats.last_users and window.dt >= STEADY_DT
    stats.last_users = window.users
    if steady and window.users and window.requests:
        level = stats.levels.setdefault(window.users, [0, 0.0, new_histogram()])
        level[0] += window.requests
        level[1] += window.dt
        level[2].add(window.hist)
    return window


def emit_tick(ctx: RunContext, tick: Tick, window: Window, stats: LoadStats) -> None:
    """Samples for one interval. Very short intervals (the final flush) carry counts but no rates."""
    ctx.sample("load.users", window.users)
    if window.dt < 0.3:
        return
    dt = window.dt
    for endpoint, ep in (tick.endpoints or {}).items():
        ctx.sample("load.rps", ep["n"] / dt, endpoint=endpoint)
        ctx.sample("load.failures", ep["f"] / dt, endpoint=endpoint)
        for key, value in (ep.get("p") or {}).items():
            ctx.sample(f"load.latency.{key}", value, endpoint=endpoint)
    ctx.sample("load.rps", window.requests / dt, endpoint="all")
    ctx.sample("load.failures", window.failures / dt, endpoint="all")
    if window.requests:
        agg = percentiles(window.hist)
        for key, value in agg.items():
            ctx.sample(f"load.latency.{key}", value, endpoint="all")
        stats.series_p95.append(agg["p95"])
        stats.series_rps.append(window.requests / dt)
    for kind, n in window.errors.items():
        ctx.sample("load.errors", n, kind=kind)
