"""``measure = "instructions"``: every benchmark counted under valgrind's callgrind instead of timed.

pytest runs the benchmarks with pytest-codspeed's simulation mode (``--codspeed --codspeed-mode=simulation``,
``CODSPEED_ENV=1``) inside ``valgrind --tool=callgrind --instr-atstart=no``: the plugin's instrument hooks switch
callgrind's instrumentation on around exactly one call of each benchmark and make callgrind write one dump per
benchmark whose trigger names the test; the dump's ``totals:`` is the benchmark's instruction count. perflab reads
those dumps itself (format in valgrind's callgrind manual, "Callgrind Format Specification"): the totals, and the
self cost of every function, so a result says where the instructions go.

Invariants:

- Counts do not depend on the machine's load or speed. What would make them vary is fixed or refused: the hash
  seed (``PYTHONHASHSEED=0``); the allocator (``PYTHONMALLOC=malloc``, with glibc's per-size caches large
  enough that a warm call's small allocations never reach its bins, ``GLIBC_TUNABLES``); bytecode caches (none
  read or written: every module is compiled from source, as in a fresh checkout, whatever .pyc files exist);
  address-space randomization (off with ``setarch -R`` when util-linux is there); the environment and
  descriptors (agents/fixed_start.py passes only ``KEEP_ENV`` and the target's ``env``, and moves the side
  channel to one descriptor number); garbage collection (pytest-codspeed collects before the measured call and disables it during); ``random.seed(0)``
  (pytest-codspeed); tracemalloc (``PYTHONTRACEMALLOC`` removed; memray options refused); subprocesses at
  pytest's start (none: agents/counted.py gives pytest-benchmark's git, hg and ``file`` lookups without one;
  valgrind runs ``vfork`` as ``fork``, so a child's reply reaches the parent in pieces that depend on timing,
  and the heaps of two processes part there). With all that, two processes, and two runs whose working folder
  lists the same names, count alike; a folder on ``sys.path`` that gained or lost an entry shifts the heap too.
  Valgrind runs the guest's threads one at a time, so threads make counts depend on scheduling, and it does not
  follow subprocesses, so their work is not counted: a benchmark whose dump shows thread or process creation
  gets a note.
- ``processes`` (2) independent processes run at the same time (counts do not suffer from sharing the CPU);
  their disagreement is reported per benchmark and the gate calls a benchmark unstable above a quarter of the
  tolerance (core.counts).
- Callable targets get one warm-up call before the counted one (agents/callable_bench.py), so the count is that
  of a warm call (imports done, caches filled); pytest targets count their benchmark's single call as written.
- Nothing is written into the user's project: pytest-codspeed's results and pytest-benchmark's storage go to
  the session's artifacts folder.

Events: ``bench.instructions`` (count, one per benchmark and process; labels benchmark, process).
Metrics per benchmark: ``instructions`` (mean over processes, unit "count", raw = one count per process), and
for callables with comparisons ``ratio`` (instructions of the target / of the comparison).
"""

from __future__ import annotations

import asyncio
import importlib.util
import platform
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from perflab.core import counts
from perflab.core.model import (
    Cell,
    ExitCode,
    Level,
    Metric,
    Note,
    PerflabError,
    Profile,
    Quantity,
    Result,
    Status,
    SummaryTable,
    ToolError,
    labels,
)
from perflab.runners.agents import callable_bench, wire
from perflab.runners.framework.base import RunContext

PLUGIN = "perflab.runners.agents.pytest_plugin"
COUNTED = "perflab.runners.agents.counted"  # first: no subprocess before the benchmarks (its docstring says why)
FIXED_START = "perflab.runners.agents.fixed_start"
# What the benchmark sees of the environment (agents/fixed_start.py), besides the target's own ``env``
KEEP_ENV = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
            "PYTHONHASHSEED", "PYTHONMALLOC", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "GLIBC_TUNABLES")
# Where the counted processes look for bytecode caches: a path that can never be a directory, so every module is
# compiled from its source, in every process of every run, and none is written.
NO_PYCACHE = "/dev/null/pycache"
# glibc keeps up to this many freed chunks of each small size (up to 1,032 bytes) in its per-thread cache (the
# maximum glibc accepts): after the warm-up call, the counted call's small allocations come from those caches, a
# fixed number of instructions each, instead of from bins whose state depends on everything freed before
TCACHE = "glibc.malloc.tcache_count=65535"
TOP = 10  # functions kept per benchmark (by self instructions)
INSTALL = "apt-get install valgrind"
# Functions whose presence in a benchmark's dump means it started a thread or a process while counted.
_SPAWN = re.compile(r"^(pthread_create|clone3?|__clone|_Fork|fork|vfork|posix_spawnp?|execve)\b")
_NAME = re.compile(r"^\((\d+)\)(?:\s+(.*))?$")
_TRIGGER = "desc: Trigger: Client Request: "


@dataclass
class Dump:
    """One benchmark's callgrind dump: its test id (pytest-codspeed's URI), instruction total, and self
    instructions per function."""

    uri: str
    total: int
    functions: Counter[str] = field(default_factory=Counter)
    spawns: set[str] = field(default_factory=set)


def read_dump(path: Path) -> Dump | None:
    """A benchmark's dump, or None for a dump that is not one (program termination, pytest-codspeed's metadata).

    Self cost: the cost lines under ``fn=`` that do not follow a ``calls=`` line (which carry the callee's
    inclusive cost). Names are compressed (``(12) name`` once, ``(12)`` afterwards), one table for fn and cfn.
    """
    uri: str | None = None
    total = 0
    names: dict[str, str] = {}
    self_cost: Counter[str] = Counter()
    seen: set[str] = set()
    fn = "???"
    after_calls = False

    def name(value: str) -> str:
        m = _NAME.match(value)
        if m is None:
            return value
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "???")

    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                if after_calls:
                    after_calls = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    self_cost[fn] += int(parts[-1])
                continue
            if line.startswith(_TRIGGER):
                uri = line[len(_TRIGGER):]
                if uri.startswith("Metadata:"):
                    return None
            elif line.startswith("totals:"):
                total = int(line.split()[1])
            key, _, value = line.partition("=")
            if key == "fn":
                fn = name(value)
                seen.add(fn)
            elif key == "cfn":
                seen.add(name(value))
            elif key == "calls":
                after_calls = True
    if uri is None:
        return None
    spawns = {n for n in seen if _SPAWN.match(n)}
    return Dump(uri, total, self_cost, spawns)


def bench_name(uri: str) -> str:
    """The name time mode gives a benchmark: the test's name with its parameters (pytest-benchmark's ``name``);
    for a generated callable test, the case id (``counting_sort[n=100]``)."""
    name = uri.rpartition("::")[2]
    if name.startswith("test_perflab[") and name.endswith("]"):
        return name[len("test_perflab["):-1]
    return name


def check_tools(profile: Profile, env: dict[str, str]) -> str:
    """The valgrind executable; PerflabError (bad input, exit 2) when something this mode needs is missing or
    something it must not be combined with is asked for."""
    valgrind = shutil.which("valgrind", path=env.get("PATH"))
    if valgrind is None:
        raise PerflabError(f'measure = "instructions" needs valgrind, not found on PATH: install it ({INSTALL})',
                           ExitCode.BAD_INPUT)
    if importlib.util.find_spec("pytest_codspeed") is None:
        raise PerflabError('measure = "instructions" needs pytest-codspeed: pip install pytest-codspeed',
                           ExitCode.BAD_INPUT)
    args = [str(a) for a in profile.test.params.get("pytest_args") or []]
    if any("memray" in a or "tracemalloc" in a for a in args):
        raise PerflabError('measure = "instructions" cannot be combined with memray or tracemalloc '
                           "(they would be counted): remove them from pytest_args", ExitCode.BAD_INPUT)
    return valgrind


async def run(profile: Profile, ctx: RunContext, test_path: Path, extra: list[str], workdir: Path,
              env: dict[str, str]) -> Result:
    p = profile.test.params
    valgrind = check_tools(profile, env)
    processes = 2
    env = {k: v for k, v in env.items() if k not in ("PYTHONTRACEMALLOC", "PYTHONDEVMODE")}
    # PYTHONMALLOC=malloc: pymalloc's pools and arenas make the cost of an allocation depend on everything
    # allocated before (a +0.5 % code change counted -5 % in 2 of 4 runs); the system allocator's per-size caches
    # do not (the same code gave the same count in every run)
    # No bytecode caches, and glibc's per-size caches large enough for a warm call's small allocations: without
    # them the two processes of one run counted a json round trip up to 1.3 % apart (one compiling a module, the
    # other reading the .pyc it had just written, leave different heaps) and successive runs up to 3 % apart; with
    # them the processes gave equal counts and successive runs agreed within 0.03 %
    env.update(PYTHONHASHSEED="0", CODSPEED_ENV="1", PYTHONMALLOC="malloc", PYTHONDONTWRITEBYTECODE="1",
               PYTHONPYCACHEPREFIX=NO_PYCACHE,
               PERFLAB_KEEP_ENV=",".join((*KEEP_ENV, *(profile.target.options.get("env") or {}))))
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.tcache_count" not in tunables:
        env["GLIBC_TUNABLES"] = f"{tunables}:{TCACHE}" if tunables else TCACHE
    # Address-space randomization moves the heap and mmaps: id()-hashed sets and dicts, and the allocators'
    # bookkeeping, then do different work (measured: counts of one benchmark 0.26 % apart with it, 0.003 % without)
    setarch = shutil.which("setarch", path=env.get("PATH"))
    no_aslr = [setarch, platform.machine(), "-R"] if setarch else []
    state = {"total": 0, "done": 0}
    failures: list[str] = []
    collect_errors: list[str] = []

    def on_record_for(i: int) -> Any:
        def on_record(rec: dict[str, Any]) -> None:
            msg = wire.parse(rec, wire.BENCH)
            if isinstance(msg, wire.BenchCollected):
                state["total"] = int(msg.count) * processes
            elif isinstance(msg, wire.BenchStarted):
                ctx.phase("bench", f"process {i + 1}/{processes}: {msg.nodeid}", _progress(state))
            elif isinstance(msg, wire.BenchCollectError):
                collect_errors.append(f"{msg.nodeid or test_path}: {msg.error}")
            elif isinstance(msg, wire.BenchOutcome):
                state["done"] += 1
                if msg.outcome in ("failed", "error"):
                    failures.append(f"{msg.nodeid}: {msg.error or 'failed'}")
        return on_record

    async def one(i: int) -> list[Dump]:
        out = ctx.artifacts_dir / "callgrind" / f"p{i + 1}"
        out.mkdir(parents=True, exist_ok=True)
        child_env = {**env, "CODSPEED_PROFILE_FOLDER": str(out / "codspeed")}
        argv = [
            sys.executable, "-m", FIXED_START, *no_aslr,
            valgrind, "--tool=callgrind", "--instr-atstart=no", "-q", f"--callgrind-out-file={out}/cg.%p.out",
            sys.executable, "-m", "pytest", str(test_path), *extra,
            "-p", COUNTED, "-p", PLUGIN, "-p", "no:cacheprovider", "-q", "--no-header",
            "--codspeed", "--codspeed-mode=simulation", f"--benchmark-storage=file://{out}/benchmarks",
            *[str(a) for a in p.get("pytest_args") or []],
        ]
        child = await ctx.spawn(argv, source=f"callgrind-{i + 1}", cwd=workdir, env=child_env,
                                on_record=on_record_for(i))
        code = await child.wait()
        _check_exit(code, child, test_path, failures, collect_errors)
        dumps = [d for f in sorted(out.glob("cg.*.out*")) if (d := read_dump(f)) is not None]
        for f in sorted(out.glob("cg.*.out*")):
            ctx.artifact("callgrind", f, f"callgrind dump, process {i + 1}")
        for d in dumps:
            ctx.sample("bench.instructions", float(d.total), labels(benchmark=bench_name(d.uri), process=i + 1))
        return dumps

    ctx.phase("process", f"{processes} pytest processes under valgrind (callgrind)", None)
    per_process = await asyncio.gather(*(one(i) for i in range(processes)))
    if not any(per_process):
        raise PerflabError(f"{test_path}: no benchmarks ran", ExitCode.BAD_INPUT)
    result = summarize(profile, per_process)
    if not no_aslr:
        result = replace(result, notes=(*result.notes, Note(
            "setarch not found: address-space randomization stays on, so counts may vary between processes "
            "(util-linux provides setarch)", Level.WARNING, "instructions.aslr")))
    return result


def _check_exit(code: int, child: Any, test_path: Path, failures: list[str], collect_errors: list[str]) -> None:
    tail = _tail(child.stderr_tail) or _tail(child.stdout_tail)
    if code == 5:
        raise PerflabError(f"{test_path}: no benchmarks found (pytest collected no test using the benchmark "
                           "fixture)", ExitCode.BAD_INPUT)
    if collect_errors:
        raise ToolError("pytest could not collect " + collect_errors[0])
    if failures:
        unique = list(dict.fromkeys(failures))  # both processes report the same failure
        raise ToolError("benchmark test failed: " + unique[0]
                        + (f" (and {len(unique) - 1} more)" if len(unique) > 1 else ""))
    stderr = "\n".join(child.stderr_tail)
    if code != 0 and ("unhandled instruction" in stderr or "valgrind: " in stderr):
        raise ToolError(f"valgrind could not run the benchmark's code (exit code {code}): {tail}")
    if code < 0:
        raise ToolError(f"pytest under valgrind was killed ({-code}) while running {test_path}: {tail}")
    if code != 0:
        raise ToolError(f"pytest under valgrind exited with code {code}: {tail}")


def _progress(state: dict[str, int]) -> float | None:
    return state["done"] / state["total"] if state["total"] else None


def _tail(lines: Any) -> str:
    lines = [x for x in lines if x.strip()]
    return lines[-1].strip() if lines else ""


def summarize(profile: Profile, per_process: list[list[Dump]]) -> Result:
    processes = len(per_process)
    found: dict[str, list[Dump | None]] = {}
    for i, dumps in enumerate(per_process):
        for d in dumps:
            found.setdefault(bench_name(d.uri), [None] * processes)[i] = d
    cases = _cases(profile)
    order = {c.id: n for n, c in enumerate(cases)}
    names = sorted(found, key=lambda n: (order.get(n, len(order)), n))
    metrics: list[Metric] = []
    raw: dict[str, tuple[tuple[float, ...], ...]] = {}
    rows: list[tuple[Cell, ...]] = []
    top_rows: list[tuple[Cell, ...]] = []
    bench_data: list[dict[str, Any]] = []
    notes: list[Note] = []
    mean_of: dict[str, float] = {}
    for name in names:
        ds = [d for d in found[name] if d is not None]
        values = [float(d.total) for d in ds]
        mean = sum(values) / len(values)
        mean_of[name] = mean
        lb = labels(benchmark=name)
        metrics.append(Metric("instructions", mean, counts.COUNT_UNIT, lb))
        raw[Metric("instructions", 0, counts.COUNT_UNIT, lb).key()] = tuple((v,) for v in values)
        gap = counts.spread(values)
        top = ds[0].functions.most_common(TOP)
        bench_data.append({"name": name, "instructions": [int(v) for v in values], "total": int(mean),
                           "spread": gap, "top": [[fn, n] for fn, n in top]})
        rows.append((name, Quantity(mean, "count"), Quantity(gap, "%") if len(values) > 1 else "- (one process)"))
        for fn, n in top[:5]:
            top_rows.append((name, fn, int(n), Quantity(n / mean, "%") if mean else None))
        spawned = set().union(*(x.spawns for x in ds))
        if spawned:
            notes.append(Note(f"{name} started a thread or process while counted ({', '.join(sorted(spawned))}): "
                              "valgrind runs threads one at a time and does not follow subprocesses, so the count "
                              "may vary and misses the subprocesses' work", Level.WARNING, "instructions.spawned"))
        if len(values) < processes:
            notes.append(Note(f"{name}: counted in {len(values)} of {processes} processes", Level.WARNING,
                              "instructions.partial"))
    tables = [
        SummaryTable(f"{profile.name}: instructions per benchmark ({processes} processes, valgrind callgrind)",
                     ("benchmark", "instructions", "spread between processes"), tuple(rows)),
        SummaryTable("top functions by self instructions", ("benchmark", "function", "instructions", "share"),
                     tuple(top_rows)),
    ]
    ratio_rows = _ratios(profile, cases, mean_of, metrics)
    if ratio_rows:
        tables.append(SummaryTable("ratio of instructions (target / comparison; below 1 is less work)",
                                   ("size", "target", "vs", "ratio", "target does"), tuple(ratio_rows)))
    data = {"measure": "instructions", "processes": processes,
            "instructions": {"benchmarks": bench_data}}
    return Result(Status.PASSED, "", tuple(metrics), raw, data, tuple(tables), tuple(notes))


def _cases(profile: Profile) -> list[callable_bench.Case]:
    if profile.target.kind != "callable":
        return []
    p = profile.test.params
    grid = dict(p.get("params") or {})
    if p.get("n"):
        grid = {"n": list(p["n"]), **grid}
    return callable_bench.cases({"callable": profile.target.value, "compare": list(p.get("compare") or []),
                                 "params": grid})


def _ratios(profile: Profile, cases: list[callable_bench.Case], mean_of: dict[str, float],
            metrics: list[Metric]) -> list[tuple[Cell, ...]]:
    target = profile.target.value
    by_ref_group = {(c.ref, c.group): c.id for c in cases}
    rows: list[tuple[Cell, ...]] = []
    for other in profile.test.params.get("compare") or []:
        for c in cases:
            if c.ref != target:
                continue
            mine, theirs = mean_of.get(c.id), mean_of.get(by_ref_group.get((other, c.group), ""))
            if mine is None or not theirs:
                continue
            r = mine / theirs
            metrics.append(Metric("ratio", r, "ratio", labels(benchmark=c.id, vs=other, group=c.group)))
            rows.append((c.group, target.rpartition(":")[2], other.rpartition(":")[2], Quantity(r, "ratio"),
                         "less work" if r < 1 else "more work"))
    return rows
