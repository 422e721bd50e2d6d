"""Every test type perflab knows: its targets, parameters, metrics and the runner that implements it.

This is the schema core.profiles validates against and the list the front ends offer. A type whose runner
is not built yet stays listed (``built=False``) so the app can show it disabled with a note. Every key has a
strict converter from core.params, a default already in converted form (None: not set) and a help phrase;
the docs' profile reference is generated from these declarations.
Each runner's section is owned by that runner; keep them in the order of the test types.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field

from perflab.core import params as p
from perflab.core.params import Param


@dataclass(frozen=True)
class TestType:
    __test__ = False

    name: str
    title: str
    runner: str  # "module:Class"
    target_kinds: tuple[str, ...]
    params: Mapping[str, Param] = field(default_factory=dict)
    target_options: Mapping[str, Param] = field(default_factory=dict)
    metrics: frozenset[str] = frozenset()  # metric names thresholds may use
    note: str = ""  # shown when not built

    @property
    def built(self) -> bool:
        module = self.runner.partition(":")[0]
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            return False


# Options that apply to any process-running target.
PROCESS_OPTIONS: dict[str, Param] = {
    "args": Param(p.string_list, default=[], help="extra command-line arguments"),
    "cwd": Param(p.string, help="working directory, relative to the profile's folder"),
    "env": Param(p.env_table, default={}, help="extra environment variables (no secrets: name them in secrets)"),
}

CALLABLE_OPTIONS: dict[str, Param] = {
    "input": Param(p.callable_ref, help="generator called with the test's parameters (e.g. n) to build the input"),
    "args": Param(p.any_list, default=[], help="positional arguments when there is no input generator"),
    "cwd": PROCESS_OPTIONS["cwd"],
    "env": PROCESS_OPTIONS["env"],
}

BENCH_PARAMS: dict[str, Param] = {
    "n": Param(p.list_of(p.positive_int, "positive integers"), help="sizes passed to the input generator as n"),
    "params": Param(p.table_of_lists, default={}, help="more parameter lists, crossed with n and each other"),
    "compare": Param(p.callable_refs, default=[], help="callables measured on the same inputs for ratios"),
    "processes": Param(p.positive_int, default=3, help="independent pytest processes (raw rounds from each)"),
    "min_rounds": Param(p.positive_int, default=5, help="fewest rounds per benchmark per process"),
    "min_time": Param(p.duration, default=100e-6, help="minimum time of one round; iterations are calibrated"),
    "max_time": Param(p.duration, default=0.5, help="target time per benchmark per process"),
    "warmup": Param(p.boolean, default=True, help="run the benchmark before measuring it"),
    "warmup_iterations": Param(p.positive_int, default=1000, help="most iterations of the warm-up"),
    "disable_gc": Param(p.boolean, default=False, help="collect garbage outside the timed region only"),
    "calibrate": Param(p.boolean, default=True,
                       help="time a reference loop around every round; the gate compares round / reference"),
    "pytest_args": Param(p.string_list, default=[], help="extra pytest arguments (pytest targets)"),
    "measure": Param(p.choice("time", "instructions"), default="time",
                     help='"time": pytest-benchmark rounds; "instructions": one call per benchmark counted under '
                          "valgrind's callgrind (deterministic; needs valgrind; gate tolerance 0.5 % by default)"),
}

# Profiling runners (cpu, memory): how long the target runs when perflab starts it.
PROFILE_PARAMS: dict[str, Param] = {
    "duration": Param(p.duration, help="seconds to profile (callable: loop this long; default 5s, pid: 10s)"),
    "iterations": Param(p.positive_int, help="callable targets: stop after this many calls"),
    "params": Param(p.any_table, default={}, help="keyword arguments for the input generator"),
}
PROFILED_OPTIONS: dict[str, Param] = {
    "input": CALLABLE_OPTIONS["input"],
    "args": Param(p.any_list, default=[],
                  help="the callable's positional arguments; script and command targets: command-line "
                       "arguments (strings)"),
    "cwd": PROCESS_OPTIONS["cwd"],
    "env": PROCESS_OPTIONS["env"],
}

# One table of ``target.endpoints`` (load, stress): the load runner generates a Locust user from them.
ENDPOINT: dict[str, Param] = {
    "method": Param(p.http_method, default="GET", help="HTTP method, in any case"),
    "path": Param(p.http_path, required=True, help='path and query on the host, e.g. "/items?page=2"'),
    "weight": Param(p.positive_int, default=1, help="relative share of the requests"),
    "headers": Param(p.string_table, default={}, help="headers of this endpoint's requests (with target.headers)"),
    "json": Param(p.json_value, help="request body, sent as JSON"),
    "name": Param(p.string, help="name in the statistics (default: the path)"),
}

# One table of ``target.sql`` (query); a plain string in the list is a statement with only ``sql``.
STATEMENT: dict[str, Param] = {
    "sql": Param(p.string, required=True, help="the statement"),
    "name": Param(p.string, help="name in the results (default: query 1, query 2, ...)"),
    "params": Param(p.parameter_rows, help="this statement's parameter rows, used in turn (default: test.params)"),
    "params_from": Param(p.callable_ref, help="callable returning an iterable of this statement's parameter rows"),
    "expect": Param(p.string_list, default=[], help='plan predicates for this statement, e.g. ["no_full_scan"]'),
}

# Load and stress targets: HTTP options of the generated users (url, endpoints) plus the process options.
HTTP_OPTIONS: dict[str, Param] = {
    "host": Param(p.http_url, help="base URL (default: the [serve] server's)"),
    "headers": Param(p.string_table, default={}, help="headers sent with every request"),
    "auth_env": Param(p.string, help="environment variable holding the auth header's value"),
    "auth_header": Param(p.string, default="Authorization", help="name of the auth header"),
    "auth_scheme": Param(p.text, default="Bearer", help='prefix of the value ("" for none)'),
    "cwd": PROCESS_OPTIONS["cwd"],
    "env": PROCESS_OPTIONS["env"],
}

TEST_TYPES: dict[str, TestType] = {
    t.name: t
    for t in (
        TestType(
            name="benchmark",
            title="Micro-benchmark (pytest-benchmark)",
            runner="perflab.runners.benchmark.runner:BenchmarkRunner",
            target_kinds=("callable", "pytest"),
            params=BENCH_PARAMS,
            target_options=CALLABLE_OPTIONS,
            metrics=frozenset({"min", "max", "mean", "median", "stdev", "p95", "p99", "ops", "rounds", "ratio",
                               "instructions"}),
        ),
        TestType(
            name="load",
            title="Load test (Locust)",
            runner="perflab.runners.load.runner:LoadRunner",
            target_kinds=("locustfile", "url", "endpoints"),
            params={
                "users": Param(p.positive_int, default=10, help="concurrent users (closed model); open model: "
                               "users that schedule arrivals"),
                "spawn_rate": Param(p.positive_number, help="users started per second (default: all at once)"),
                "duration": Param(p.duration, default=30.0, help="how long the load runs"),
                "shape": Param(p.choice("constant", "ramp", "steps", "arrival_rate"), default="constant",
                               help="constant users, ramp (spawn_rate), steps, or arrival_rate (open model)"),
                "steps": Param(p.load_steps, default=[], help='[[users, duration], ...] for shape = "steps"'),
                "rate": Param(p.positive_number, help='requests per second for shape = "arrival_rate"'),
                "max_in_flight": Param(p.positive_int, default=200, help="open model: most requests at once"),
                "think_time": Param(p.non_negative_number, default=0.0, help="seconds a user waits between "
                                    "requests (generated users)"),
                "request_timeout": Param(p.duration, default=30.0, help="per request (generated users)"),
                "workers": Param(p.non_negative_int, default=0, help="Locust worker processes (0: one process)"),
                "remote_workers": Param(p.non_negative_int, default=0,
                                        help="workers joining with 'perflab worker --master HOST:PORT'"),
                "master_bind": Param(p.string, default="127.0.0.1", help="interface the master listens on"),
                "master_port": Param(p.port_or_zero, default=0, help="master port (0: a free one)"),
                "web_ui": Param(p.boolean, default=False, help="also serve Locust's web UI on 127.0.0.1"),
                "web_port": Param(p.port, default=8089, help="port of Locust's web UI (web_ui = true)"),
                "cpu_warn": Param(p.ratio, default=0.85, help="warn when a load generator's CPU exceeds this"),
                "max_error_rate": Param(p.ratio, default=0.0,
                                        help='share of failed requests a run may have and still pass, e.g. "1%" '
                                             "(default 0: any failure fails the run, as in Locust)"),
                "locust_args": Param(p.string_list, default=[], help="extra Locust command-line arguments"),
                "profile_cpu": Param(p.boolean, default=False, help="py-spy the [serve] server under load"),
                "profile_memory": Param(p.boolean, default=False, help="run the [serve] server under memray"),
            },
            target_options=HTTP_OPTIONS,
            metrics=frozenset({"rps", "p50", "p90", "p95", "p99", "max", "error_rate", "failures", "requests"}),
        ),
        TestType(
            name="stress",
            title="Stress test: find the breaking point",
            runner="perflab.runners.load.stress:StressRunner",
            target_kinds=("locustfile", "url", "endpoints"),
            params={
                "slo": Param(p.string_list, default=["p95 < 500ms", "error_rate < 1%"],
                             help='objectives every step must meet: p50/p90/p95/p99/max < DURATION, '
                                  'error_rate < PERCENT'),
                "start_users": Param(p.positive_int, default=5, help="users of the first step"),
                "step_users": Param(p.positive_int, default=5, help="users added per step"),
                "max_users": Param(p.positive_int, default=200, help="the search stops here"),
                "step_duration": Param(p.duration, default=5.0, help="measured time per step"),
                "settle": Param(p.non_negative_number, default=1.0, help="seconds ignored after a change"),
                "refine": Param(p.non_negative_int, default=2, help="bisection rounds after the first break"),
                "recovery_users": Param(p.positive_int, help="load after the break when at most the highest "
                                        "load that passed, else that load (default start_users)"),
                "load": Param(p.choice("users", "arrival_rate"), default="users",
                              help="what the steps raise: users (closed model) or arrival rate (open model)"),
                "start_rate": Param(p.positive_number, default=10.0, help="arrival_rate: first step, req/s"),
                "step_rate": Param(p.positive_number, default=10.0, help="arrival_rate: req/s added per step"),
                "max_rate": Param(p.positive_number, default=1000.0, help="arrival_rate: the search stops here"),
                "recovery_rate": Param(p.positive_number, help="arrival_rate after the break, at most the highest "
                                       "rate that passed (default start)"),
                "arrival_users": Param(p.positive_int, default=4, help="arrival_rate: users that schedule "
                                       "the requests"),
                "max_in_flight": Param(p.positive_int, default=500, help="arrival_rate: most requests at once"),
                "recovery_timeout": Param(p.duration, default=30.0,
                                          help="longest wait for the objectives to hold again after the break"),
                "think_time": Param(p.non_negative_number, default=0.0, help="seconds a user waits between "
                                    "requests (generated users)"),
                "request_timeout": Param(p.duration, default=10.0, help="per request (generated users)"),
                "workers": Param(p.non_negative_int, default=0, help="Locust worker processes (0: one process)"),
                "cpu_warn": Param(p.ratio, default=0.85, help="warn when a load generator's CPU exceeds this"),
                "locust_args": Param(p.string_list, default=[], help="extra Locust command-line arguments"),
            },
            target_options=HTTP_OPTIONS,
            metrics=frozenset({"breaking_point", "knee", "recovery_time", "p95", "error_rate", "rps"}),
        ),
        TestType(
            name="cpu",
            title="CPU profile (py-spy)",
            runner="perflab.runners.profile.cpu:CpuRunner",
            target_kinds=("script", "command", "callable", "pid"),
            params=PROFILE_PARAMS | {
                "rate": Param(p.positive_int, default=100, help="samples per second"),
                "refresh": Param(p.duration, default=2.0, help="live table period (one py-spy window)"),
                "native": Param(p.boolean, default=False, help="include native (C/C++/Cython) frames"),
                "gil_only": Param(p.boolean, default=False, help="only samples holding the GIL"),
                "idle": Param(p.boolean, default=False, help="include idle threads"),
                "subprocesses": Param(p.boolean, default=False, help="profile the target's subprocesses too"),
                "nonblocking": Param(p.boolean, default=True,
                                     help="sample without pausing the target (false: pause it for each "
                                          "sample; always so with native = true)"),
                "thread_shares": Param(p.boolean, default=True,
                                       help="1 s probe for idle and GIL shares (bottleneck evidence)"),
                "py_spy": Param(p.string, help="py-spy executable (default: py-spy on PATH)"),
            },
            target_options=PROFILED_OPTIONS,
            metrics=frozenset({"samples", "duration", "coverage", "own", "total", "calls_per_s"}),
        ),
        TestType(
            name="memory",
            title="Memory profile (memray)",
            runner="perflab.runners.profile.memory:MemoryRunner",
            target_kinds=("script", "command", "callable"),
            params=PROFILE_PARAMS | {
                "native": Param(p.boolean, default=False, help="native (C/C++) stack frames too"),
                "trace_python_allocators": Param(p.boolean, default=True,
                                                 help="see every pymalloc allocation (accurate leaks report)"),
                "follow_fork": Param(p.boolean, default=False, help="track forked children too"),
                "top": Param(p.positive_int, default=10, help="top allocators listed"),
                "memray": Param(p.string, help="memray executable (default: this Python's memray module)"),
                "live": Param(p.boolean, default=False,
                              help="stream heap and top allocators (memray live-remote; no capture/flamegraphs)"),
                "interval": Param(p.duration, default=1.0, help="live mode: seconds between heap snapshots"),
            },
            target_options=PROFILED_OPTIONS,
            metrics=frozenset({"peak_memory", "total_allocated", "allocations", "run_time", "calls_per_s",
                               "heap_peak_observed", "heap_end"}),
        ),
        TestType(
            name="leak",
            title="Leak check (tracemalloc, RSS)",
            runner="perflab.runners.profile.leak:LeakRunner",
            target_kinds=("callable", "script"),
            params={
                "iterations": Param(p.positive_int, default=200, help="measured calls after the warm-up"),
                "warmup": Param(p.non_negative_int, default=20, help="calls before measuring (caches fill)"),
                "min_growth": Param(p.size, default=64.0, help="slope below which no leak is called"),
                "allow_growth": Param(p.boolean, default=False,
                                      help="report growth in the steady state without failing the run"),
                "top": Param(p.positive_int, default=10, help="growing allocation sites listed"),
                "params": Param(p.any_table, default={}, help="keyword arguments for the input generator"),
            },
            target_options=PROFILED_OPTIONS,
            metrics=frozenset({"growth_per_iter", "growth_per_iter_low", "growth_per_iter_high",
                               "rss_growth_per_iter", "iteration_time"}),
        ),
        TestType(
            name="concurrency",
            title="Concurrency scaling and thread safety",
            runner="perflab.runners.concurrency.runner:ConcurrencyRunner",
            target_kinds=("callable",),
            params={
                "levels": Param(p.list_of(p.positive_int, "positive integers"), default=[1, 2, 4, 8],
                                help="numbers of concurrent workers"),
                "workers": Param(p.list_of(p.choice("threads", "processes", "asyncio"), "worker kinds"),
                                 default=["threads", "processes", "asyncio"],
                                 help="threads, processes, asyncio (asyncio needs an async callable)"),
                "duration": Param(p.duration, default=1.0, help="time per level and worker kind"),
                "max_calls": Param(p.positive_int, default=200_000, help="calls per level at most"),
                "check": Param(p.choice("auto", "serial", "invariant", "none"), default="auto",
                               help="thread-safety check: serial comparison or target.invariant"),
                "hang_timeout": Param(p.duration, default=10.0,
                                      help="no progress for this long = deadlock suspected"),
                "gil": Param(p.boolean, default=True, help="sample GIL contention with py-spy --gil"),
                "saturation_gain": Param(p.ratio, default=0.10,
                                         help="throughput gain below which a level no longer counts as better"),
            },
            target_options={
                "args": CALLABLE_OPTIONS["args"],
                "input": Param(p.callable_ref, help="called once in each worker; its result is the argument"),
                "setup": Param(p.callable_ref, help="resets shared state before every trial"),
                "invariant": Param(p.callable_ref,
                                   help="called with the number of calls; returns None if right, else a message"),
                "cwd": PROCESS_OPTIONS["cwd"],
                "env": PROCESS_OPTIONS["env"],
            },
            metrics=frozenset({"throughput", "efficiency", "p50", "p95", "p99", "saturation_level", "gil_wait",
                               "check_failures"}),
        ),
        TestType(
            name="query",
            title="Database query timing and plans",
            runner="perflab.runners.query.runner:QueryRunner",
            target_kinds=("sql",),
            params={
                "params": Param(p.parameter_rows, default=[],
                                help="parameter rows, used in turn (statements may set their own)"),
                "params_from": Param(p.callable_ref, help="callable returning an iterable of parameter rows"),
                "warmup": Param(p.non_negative_int, default=20, help="executions before measuring"),
                "executions": Param(p.positive_int, default=200, help="measured executions per connection"),
                "connections": Param(p.positive_int, default=1, help="concurrent connections (one thread each)"),
                "large_table": Param(p.positive_int, default=10_000, help="rows from which a full scan is flagged"),
                "explain": Param(p.boolean, default=True, help="capture the query plan"),
                "expect": Param(p.string_list, default=[],
                                help='plan predicates: uses_index("NAME"), no_full_scan (a miss fails the run)'),
            },
            target_options={
                "engine": Param(p.choice("sqlite", "postgres"), default="sqlite", help="database engine"),
                "database": Param(p.string, help='SQLite file, or "demo:shop" for the generated demo database'),
                "dsn_env": Param(p.string, help="environment variable holding the PostgreSQL DSN (never stored)"),
                "setup": Param(p.callable_ref, help="called with the open connection before measuring"),
                "cwd": PROCESS_OPTIONS["cwd"],
                "env": PROCESS_OPTIONS["env"],
            },
            metrics=frozenset({"p50", "p95", "p99", "mean", "max", "throughput", "executions", "full_scans",
                               "indexes_used", "uses_index"}),
        ),
    )
}


def get(name: str) -> TestType | None:
    return TEST_TYPES.get(name)
