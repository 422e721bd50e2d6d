"""What limits a run: CPU-bound, CPU-starved, I/O-bound, memory-bound, contended (GIL or locks), or mostly idle.

Inputs are the engine's process-monitor summary for one role (``result.data["monitor"][role]``: cpu_time and
wall in seconds over the same window, read/write bytes, context switches, first/last/peak RSS in bytes, ticks,
and from schedstat run_time and run_delay in seconds) and, where a CPU profile ran, py-spy's thread shares
(``idle_share``: idle thread samples / all thread samples; ``gil_share``: samples holding the GIL / active
samples; ``active_threads``: active samples per tick). A runner whose profiler does storage I/O from the
target's own process names that role in ``result.data["profiler_io"]``: role -> what (its writes are all left
out), or role -> {"what": ..., "write_bytes": bytes the profiler wrote} (those bytes are subtracted). The label always travels with the figures that led to it, so a person can disagree with the rule and
still use the numbers.

CPU starvation is run-queue delay (core.schedstat): time the target was runnable and did not get a core. It is
its own class, apart from waiting on I/O, locks or the network (a sleeping thread is not in the run queue): a
target that got less than ``CPU_BOUND`` of a core while at least ``STARVED_SHARE`` of the time it wanted a CPU
was spent waiting for one, and at least ``STARVED_CORES`` cores' worth, was starved: the machine is
oversubscribed, and its timings say more about the machine than about the code.

For load runs, :func:`load_limit` tells a latency limit (each request is slow, throughput scales with users)
from a throughput limit (throughput plateaus and latency grows with users: requests queue), and says when neither
holds (throughput plateaus while latency does not grow: the limit is before the server).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from perflab.core import units
from perflab.core.model import Level, Note, Result, Status

MIB = 1024 * 1024
CPU_BOUND = 0.85  # cores busy (of one core) above which the run is CPU-bound
IDLE = 0.15  # cores busy below which, without I/O or switching, the run is mostly idle
IO_RATE = 1 * MIB  # bytes/s of storage I/O that counts as I/O activity
SWITCH_RATE = 1000.0  # context switches per second (voluntary + involuntary) that suggest waiting on something
# RSS growth that makes a run memory-bound: large in absolute terms AND large against where it started (the
# first monitor tick comes before the target's imports, so tens of MiB of growth is just start-up)
MEM_GROWTH = 100 * MIB
MEM_GROWTH_RATIO = 0.5
GIL_CONTENDED = 0.6  # below this share of active samples holding the GIL, threads wait for each other
STARVED_SHARE = 0.25  # run-queue delay / (run time + run-queue delay) from which a run is CPU-starved
STARVED_CORES = 0.1  # ... and run-queue delay / wall (cores' worth of waiting) at least this


class Bottleneck(StrEnum):
    CPU = "CPU-bound"
    STARVED = "CPU-starved"
    IO = "I/O-bound"
    MEMORY = "memory-bound"
    CONTENDED = "contended"
    IDLE = "mostly idle"
    MIXED = "mixed (CPU and waiting)"
    UNKNOWN = "unknown (too short to tell)"


class LoadLimit(StrEnum):
    LATENCY = "latency"  # each request is slow; more users give proportionally more throughput
    THROUGHPUT = "throughput"  # throughput plateaus and latency grows with users: queueing
    CLIENT = "client"  # throughput plateaus and latency does not grow: the users sent no more requests
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Classification:
    label: Bottleneck
    evidence: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""

    def describe(self) -> str:
        """``CPU-bound: cpu 0.98 cores over 6.0 s, I/O 0 B/s, ...`` (label, then the figures)."""
        e = self.evidence
        parts = [f"cpu {e.get('cpu_cores', 0):.2f} cores over {e.get('wall', 0):.1f} s"]
        if "run_delay_share" in e:
            parts.append(f"waiting for a CPU {e['wait_cores']:.2f} cores ({units.percent(e['run_delay_share'])} "
                         f"of runnable time)")
        parts += [f"I/O {units.size(e.get('io_rate', 0))}/s",
                 f"{e.get('switch_rate', 0):.0f} ctx switches/s",
                 f"RSS {'+' if e.get('rss_growth', 0) >= 0 else ''}{units.size(e.get('rss_growth', 0))}"]
        if "idle_share" in e:
            parts.append(f"idle threads {units.percent(e['idle_share'])}")
        if "gil_share" in e:
            parts.append(f"GIL held {units.percent(e['gil_share'])} of active samples")
        if "active_threads" in e:
            parts.append(f"{e['active_threads']:.1f} threads active")
        text = f"{self.label.value}: " + ", ".join(parts)
        return f"{text} ({self.reason})" if self.reason else text


def classify(monitor: Mapping[str, float] | None, shares: Mapping[str, float] | None = None, *,
             profiler_io: str = "", profiler_bytes: float | None = None, cores: int | None = None) -> Classification:
    """Label one role's run from its monitor totals (and py-spy shares when present).

    ``profiler_io``: what else writes from the target's process; ``profiler_bytes``: how many bytes it wrote,
    subtracted from the role's writes (None: none of the role's writes are counted);
    ``cores``: CPUs of the machine (default: this one's), the most CPU a run can have had.
    """
    m = dict(monitor or {})
    s = dict(shares or {})
    wall = float(m.get("wall", 0.0))
    if wall <= 0.2 or m.get("ticks", 0) < 2:
        return Classification(Bottleneck.UNKNOWN, {"wall": wall}, "fewer than two monitor samples")
    # CPU time and wall come from one window; clock-tick rounding of short runs must still not exceed the machine
    cpu = min(float(m.get("cpu_time", 0.0)) / wall, float(cores or os.cpu_count() or 1))
    writes = float(m.get("write_bytes", 0.0))
    note = ""
    if profiler_io and profiler_bytes is None:
        writes, note = 0.0, f"; storage writes not counted: {profiler_io}"
    elif profiler_io and profiler_bytes is not None:
        # the monitor's last sample may come before the profiler's last writes: never below zero
        note = f"; {units.size(min(writes, profiler_bytes))} of storage writes not counted: {profiler_io}"
        writes = max(0.0, writes - profiler_bytes)
    io_rate = (float(m.get("read_bytes", 0.0)) + writes) / wall
    switch_rate = float(m.get("ctx_switches", 0.0)) / wall
    first = float(m.get("first_rss", 0.0))
    growth = float(m.get("last_rss", 0.0)) - first
    evidence = {"cpu_cores": cpu, "wall": wall, "io_rate": io_rate, "switch_rate": switch_rate,
                "rss_growth": growth, "peak_rss": float(m.get("peak_rss", 0.0))}
    evidence.update({k: float(v) for k, v in s.items() if k in ("idle_share", "gil_share", "active_threads")})
    delay, run = m.get("run_delay"), m.get("run_time")
    if delay is not None and run is not None:
        evidence["wait_cores"] = float(delay) / wall
        evidence["run_delay_share"] = float(delay) / (float(delay) + float(run)) if delay + run > 0 else 0.0
    gil = s.get("gil_share")

    # at its peak: a process that frees its data before it exits (interpreter shutdown) still needed it
    grew = max(growth, float(m.get("peak_rss", 0.0)) - first)
    if grew >= MEM_GROWTH and grew >= MEM_GROWTH_RATIO * first:
        return Classification(Bottleneck.MEMORY, evidence, "RSS kept growing" if grew == growth else
                              f"RSS grew by {units.size(grew)} at its peak")
    # contention needs two or more threads wanting the GIL; one thread without it is just in C code
    if gil is not None and gil < GIL_CONTENDED and s.get("active_threads", 0.0) >= 1.5 and cpu >= IDLE:
        return Classification(Bottleneck.CONTENDED, evidence, "active threads mostly wait for the GIL")
    if cpu >= CPU_BOUND:
        return Classification(Bottleneck.CPU, evidence, note.removeprefix("; "))
    if "run_delay_share" in evidence:
        if evidence["run_delay_share"] >= STARVED_SHARE and evidence["wait_cores"] >= STARVED_CORES:
            return Classification(Bottleneck.STARVED, evidence, "the machine is oversubscribed: it waited for a "
                                  f"core {units.percent(evidence['run_delay_share'])} of the time it could run" + note)
        if cpu + evidence["wait_cores"] >= CPU_BOUND:  # it wanted a core all along and got most of it
            return Classification(Bottleneck.CPU, evidence, "runnable nearly all the time" + note)
    else:
        idle = s.get("idle_share")
        if idle is not None and idle < 0.2 and (gil is None or gil >= GIL_CONTENDED):
            # without schedstat: py-spy saw the threads running Python nearly all the time, yet the process got
            # little CPU: it was runnable and waiting for a core (other processes on a busy machine)
            return Classification(Bottleneck.STARVED, evidence, "the machine is oversubscribed: threads were busy "
                                  f"in py-spy's samples but got only {cpu:.2f} cores" + note)
    waiting = io_rate >= IO_RATE or switch_rate >= SWITCH_RATE
    if cpu < IDLE and not waiting:
        return Classification(Bottleneck.IDLE, evidence, note.removeprefix("; "))
    if waiting:
        reason = "storage I/O" if io_rate >= IO_RATE else "frequent context switches: waiting on I/O, network or locks"
        return Classification(Bottleneck.IO, evidence, reason + note)
    return Classification(Bottleneck.MIXED, evidence, "busy part of the time without visible I/O" + note)


def classify_result(data: Mapping[str, object], role: str = "target") -> Classification | None:
    """Classify from a Result's ``data`` (``monitor`` from the engine, ``threads`` shares from the CPU runner)."""
    monitor = data.get("monitor")
    if not isinstance(monitor, Mapping) or role not in monitor:
        return None
    shares = data.get("threads")
    profiler_io = data.get("profiler_io")
    entry = profiler_io.get(role) if isinstance(profiler_io, Mapping) else None
    what, written = str(entry or ""), None
    if isinstance(entry, Mapping):
        what, written = str(entry.get("what") or "a profiler"), float(entry.get("write_bytes") or 0.0)
    return classify(monitor[role], shares if isinstance(shares, Mapping) else None, profiler_io=what,
                    profiler_bytes=written)


SAME = 0.1  # a ratio strictly within 1 +- SAME (rounded to what is printed) reads "about the same"
SCALES = 0.5  # share of the added users that must turn into added throughput for "throughput still grows"


def _shown(x: float) -> float:
    """``x`` rounded to the two significant digits the note prints; words are decided on this value."""
    if x <= 0 or not math.isfinite(x):
        return x
    return round(x, max(0, 1 - math.floor(math.log10(x))))


def _trend(shown: float) -> int:
    """+1 grew, 0 about the same, -1 fell: of a printed ratio (high level / low level)."""
    return 1 if shown >= 1 + SAME else -1 if shown <= 1 - SAME else 0


@dataclass(frozen=True)
class LoadClassification:
    """``evidence``: users_ratio, rps_ratio, latency_ratio (high level / low level, rounded to the two significant
    digits printed) and scaling ((rps_ratio - 1) / (users_ratio - 1)). :meth:`describe` reads only these
    figures, through the same :func:`_trend` as :func:`load_limit`, so its words never contradict its numbers."""

    limit: LoadLimit
    evidence: Mapping[str, float]

    def describe(self) -> str:
        e = self.evidence
        if self.limit is LoadLimit.UNKNOWN:
            return "load limit: unknown (needs two user levels at least 10 % apart)"
        rps, lat = _trend(e["rps_ratio"]), _trend(e["latency_ratio"])
        throughput = ("throughput still grows with users" if e["scaling"] >= SCALES else
                      "throughput grows less than users" if rps > 0 else
                      "throughput stays flat" if rps == 0 else "throughput falls")
        latency = {1: "latency grows with users", 0: "latency stays about the same",
                   -1: "latency falls"}[lat]
        if self.limit is LoadLimit.LATENCY:
            what = f"latency: each request is slow, {throughput}, {latency}"
        elif self.limit is LoadLimit.THROUGHPUT:
            what = f"throughput: requests queue, {latency}, {throughput}"
        else:  # CLIENT: by Little's law users = throughput x (latency + think time), neither term grew
            what = (f"not the server: {throughput} while {latency}, so the added users sent no more requests "
                    "(think time, pacing or a saturated load generator)")
        return (f"load limit: {what} (users x{_num(e['users_ratio'])} gave throughput x{_num(e['rps_ratio'])} "
                f"and median latency x{_num(e['latency_ratio'])})")


def _num(shown: float) -> str:
    """A rounded ratio as plain digits: x8, x1.1, x0.86, x120 (never x1.2e+02)."""
    if shown <= 0 or not math.isfinite(shown):
        return f"{shown:g}"
    text = f"{shown:.{max(0, 1 - math.floor(math.log10(shown)))}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def load_limit(levels: Sequence[tuple[float, float, float]]) -> LoadClassification:
    """``levels`` = (users, requests/s, median latency s) at two or more concurrency levels, low to high.

    Closed-loop load obeys Little's law (users = throughput x (latency + think time)): if throughput grows
    in step with users, latency is the limit of each request; if it stops growing while latency grows,
    the server is saturated and requests queue. If throughput stops growing and latency does not grow either,
    the added users did not send more requests: the limit is before the server. The ratios are rounded to
    what the note prints before any word is chosen.
    """
    pts = sorted((u, r, lat) for u, r, lat in levels if u > 0 and r > 0 and lat > 0)
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return LoadClassification(LoadLimit.UNKNOWN, {})
    (u0, r0, l0), (u1, r1, l1) = pts[0], pts[-1]
    users_ratio, rps_ratio, lat_ratio = _shown(u1 / u0), _shown(r1 / r0), _shown(l1 / l0)
    if _trend(users_ratio) <= 0:  # too few added users for any ratio to mean something
        return LoadClassification(LoadLimit.UNKNOWN, {})
    # scaling efficiency: share of the added users that turned into added throughput
    scaling = (rps_ratio - 1) / (users_ratio - 1)
    evidence = {"users_ratio": users_ratio, "rps_ratio": rps_ratio, "latency_ratio": lat_ratio,
                "scaling": scaling}
    if scaling >= SCALES:
        limit = LoadLimit.LATENCY
    elif _trend(lat_ratio) > 0:
        limit = LoadLimit.THROUGHPUT
    else:
        limit = LoadLimit.CLIENT
    return LoadClassification(limit, evidence)


def annotate(result: Result) -> Result:
    """Add ``data["bottleneck"]`` (per monitored role) and one note per role (kind ``bottleneck``) to a finished
    Result, and for a load run with two user levels or more, its limit (kind ``load.limit``)."""
    if result.status not in (Status.PASSED, Status.FAILED):
        return result
    found: dict[str, dict[str, object]] = {}
    notes = list(result.notes)
    for role in ("target", "server"):
        c = classify_result(result.data, role)
        if c is None or c.label is Bottleneck.UNKNOWN:
            continue
        found[role] = {"label": c.label.value, "evidence": dict(c.evidence), "text": c.describe()}
        notes.append(Note(f"bottleneck ({role}): {c.describe()}", Level.INFO, "bottleneck"))
    levels = result.data.get("levels")
    extra: dict[str, object] = {}
    if isinstance(levels, list | tuple) and len(levels) >= 2:
        lc = load_limit([tuple(map(float, lv)) for lv in levels])  # type: ignore[misc]
        if lc.limit is not LoadLimit.UNKNOWN:
            extra["load_limit"] = {"limit": lc.limit.value, "evidence": dict(lc.evidence), "text": lc.describe()}
            notes.append(Note(lc.describe(), Level.INFO, "load.limit"))
    if not found and not extra:
        return result
    data = {**result.data, **extra}
    if found:
        data["bottleneck"] = found
    return replace(result, data=data, notes=tuple(notes))
