"""Command line: ``perflab`` opens the app; ``perflab --headless PROFILE...`` runs from scripts and CI.

Nothing heavy is imported here: ``--version`` and ``--help`` must not load textual, locust, scipy, pytest or
memray (tests/unit/test_import_hygiene.py checks). Implementations are imported when a command runs, from one
module per command group in perflab.commands (or the front ends).

Two parsers, chosen by the first word (``_dispatch``): ``_main_parser`` for ``perflab [--headless] [PROFILE ...]``
and ``_sub_parser`` for ``perflab COMMAND ...``. One parser cannot do both: argparse's subcommands are a
positional argument that must match a command name, so a free list of profile paths beside them would be parsed
as a bad command. The options both share are defined once, in SHARED_OPTIONS.
"""

from __future__ import annotations

# Ctrl-C while this module and its imports load is remembered, not raised: a KeyboardInterrupt escaping an
# import ends in a traceback before main() can catch it. main() reports it; the default handler comes back at
# the end of this module. ``_signal`` (built in, imports nothing) rather than ``signal``, whose import of
# enum is itself a few milliseconds in which Ctrl-C would land. A Python-level handler is reset by exec, so
# no child ever inherits it.
import _signal

_early_interrupts: list[int] = []


def _remember_interrupt(signum: int, frame: object) -> None:
    _early_interrupts.append(signum)


if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    _signal.signal(_signal.SIGINT, _remember_interrupt)

import argparse  # noqa: E402  (after the handler: these imports are where an early Ctrl-C lands)
import contextlib  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from perflab import __version__  # noqa: E402
from perflab.core.model import ExitCode  # noqa: E402

EXIT_CODES_HELP = """exit codes:
  0    every profile passed
  1    a threshold or regression gate failed
  2    bad input (malformed profile, missing target, corrupt store or baseline, bad arguments)
  3    the run errored: the tool or the target failed (crash, error, timeout)
  4    perflab itself failed (an internal error; the traceback is written to a log file)
  130  interrupted (Ctrl-C or SIGTERM)
"""

# One line per command: `perflab --help` lists these, and each subcommand's parser uses the same line.
COMMAND_HELP = {
    "sessions": "list stored sessions",
    "show": "print one stored session",
    "replay": "replay a stored session in the app (or print it with --headless)",
    "baseline": "save, show or import a baseline",
    "compare": "compare two sessions, a session and a baseline, or two baselines",
    "history": "a metric across stored sessions, with change points",
    "init": "write a performance suite (tests, locustfile, profiles, CI) for a project",
    "new": "write a test file and a profile for one target",
    "ci": "print the CI workflow (the one perflab init writes)",
    "worker": "join a load test's Locust master from this machine",
}


# The options several commands share, each defined here once with its one help text: name -> (flags, keywords of
# add_argument). ``_shared`` adds them to a parser or an argument group by name.
SHARED_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "store": (("--store",), {"metavar": "DIR", "help": "session store folder (default .perflab, or $PERFLAB_STORE)"}),
    "baseline_dir": (("--baseline-dir",), {"metavar": "DIR",
                                          "help": "baseline folder (default baselines/, or $PERFLAB_BASELINES)"}),
    "profiles_dir": (("--profiles",), {"dest": "profiles_dir", "metavar": "DIR",
                                       "help": "folder of profiles the app lists (default ./profiles)"}),
    "json": (("--json",), {"action": "store_true",
                           "help": "print one JSON document on stdout instead of the tables"}),
}


def _shared(p: argparse.ArgumentParser | argparse._ArgumentGroup, *names: str) -> None:
    """Add the SHARED_OPTIONS ``names`` to ``p``."""
    for name in names:
        flags, kw = SHARED_OPTIONS[name]
        p.add_argument(*flags, **kw)


def _commands_epilog() -> str:
    width = max(map(len, COMMAND_HELP))
    lines = [f"  {name:<{width}}  {text}" for name, text in COMMAND_HELP.items()]
    return "commands (perflab COMMAND --help for each):\n" + "\n".join(lines) + "\n\n" + EXIT_CODES_HELP


def _main_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="perflab",
        description="A performance lab for Python code. Without --headless, opens the terminal app.",
        usage="perflab [--headless PROFILE_OR_DIR ...] [options]\n       perflab COMMAND ...",
        epilog=_commands_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"perflab {__version__}")
    p.add_argument("--headless", action="store_true", help="run the profiles without the app and exit")
    p.add_argument("profiles", nargs="*", metavar="PROFILE_OR_DIR", help="profile files or folders of them")
    _shared(p, "store", "profiles_dir")
    # not the commands' --json flag: a run's results go to a file, and stdout keeps the progress and summary
    p.add_argument("--json", dest="json_path", metavar="FILE", help="write the results as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _gate_flags(p)
    return p


def _gate_flags(p: argparse.ArgumentParser) -> None:
    """Baselines, regression gate and CI outputs (README, "baselines")."""
    g = p.add_argument_group("baselines and CI")
    g.add_argument("--save-baseline", action="store_true", help="write this run as the baseline (if it passed)")
    g.add_argument("--update-baseline", action="store_true",
                   help="compare, then replace the baseline only if every gate passed")
    g.add_argument("--no-baseline", action="store_true", help="do not compare with the baseline")
    _shared(g, "baseline_dir")
    g.add_argument("--strict-machine", action="store_true",
                   help="a baseline from another machine is an error, not a warning")
    g.add_argument("--junit", metavar="FILE", help="write JUnit XML (benchmarks, thresholds, gate)")
    g.add_argument("--markdown", metavar="FILE", help="write a Markdown summary (also to $GITHUB_STEP_SUMMARY)")


def _gate_extras(ns: argparse.Namespace) -> dict[str, object]:
    return {"baseline_dir": ns.baseline_dir, "save": ns.save_baseline, "update": ns.update_baseline,
            "no_baseline": ns.no_baseline, "strict_machine": ns.strict_machine, "junit": ns.junit,
            "markdown": ns.markdown}


def _sessions_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sessions", help=COMMAND_HELP["sessions"])
    _shared(s, "store", "json")
    s.add_argument("--profile", help="only sessions of this profile")
    s.add_argument("--type", dest="test_type", help="only sessions of this test type")
    s.add_argument("--status", help="only sessions with this status (passed, failed, error, ...)")
    s.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
    s.set_defaults(run=_run_sessions)

    show = sub.add_parser("show", help=COMMAND_HELP["show"])
    show.add_argument("session", help="session id, a unique prefix or suffix of one, or 'last'")
    _shared(show, "store", "json")
    show.add_argument("--logs", type=int, default=20, help="how many log lines to show")
    show.set_defaults(run=_run_show)


def _run_sessions(a: argparse.Namespace) -> int:
    from perflab.commands.sessions import cmd_sessions

    return cmd_sessions(a.store, profile=a.profile, test_type=a.test_type, status=a.status, limit=a.limit,
                        as_json=a.json)


def _run_show(a: argparse.Namespace) -> int:
    from perflab.commands.sessions import cmd_show

    return cmd_show(a.store, a.session, logs=a.logs, as_json=a.json)


def _replay_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("replay", help=COMMAND_HELP["replay"])
    r.add_argument("session", help="session id, a unique prefix or suffix of one, or 'last'")
    _shared(r, "store")
    r.add_argument("--headless", action="store_true", help="print the summary and a compact timeline")
    _shared(r, "profiles_dir")
    r.set_defaults(run=_run_replay)


def _run_replay(a: argparse.Namespace) -> int:
    if a.headless:
        from perflab.commands.replay import cmd_replay_headless

        return cmd_replay_headless(a.store, a.session)
    from perflab.app import run_app  # the TUI; imported only here

    return run_app(a)


def _scaffold_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", metavar="DIR", help="the project folder (default: the current folder)")
    p.add_argument("--force", action="store_true", help="overwrite files that already exist")
    p.add_argument("--dry-run", action="store_true", help="list what would be written; write nothing")


def _scaffold_parser(sub: argparse._SubParsersAction) -> None:
    i = sub.add_parser("init", help=COMMAND_HELP["init"],
                       description="Write tests/performance/, locustfile.py, baselines/, profiles/, the pytest "
                                   "benchmark configuration and .github/workflows/perflab.yml.")
    _scaffold_common(i)
    i.add_argument("--url", metavar="URL", help="the service the locustfile loads (default http://127.0.0.1:8000)")
    i.add_argument("--install", metavar="REQUIREMENT",
                   help="the pip requirement the workflow installs perflab with, e.g. "
                   "'perflab @ git+https://github.com/OWNER/perflab@COMMIT' (default: where this perflab "
                   "was installed from; perflab is on no package index)")
    i.add_argument("--perflab-spec", dest="install", help=argparse.SUPPRESS)  # the option's former name
    i.add_argument("--branch", default="main", help="the branch whose pushes the workflow gates")
    i.set_defaults(run=_run_init)

    new = sub.add_parser("new", help=COMMAND_HELP["new"])
    kinds = new.add_subparsers(dest="kind", required=True, metavar="KIND")
    b = kinds.add_parser("benchmark", help="pytest-benchmark test of module:function")
    b.add_argument("target", metavar="MODULE:FUNCTION")
    b.add_argument("--compare", action="append", metavar="MODULE:OTHER",
                   help="measure this callable on the same inputs (repeatable)")
    b.add_argument("--sizes", default="100,10000", help="input sizes, comma-separated (default 100,10000)")
    ld = kinds.add_parser("load", help="Locust load test of a URL")
    ld.add_argument("url", metavar="URL")
    ld.add_argument("--users", type=int, default=10, help="concurrent users (default 10)")
    ld.add_argument("--p95", default="500ms", help="latency objective for the 95th percentile (default 500ms)")
    ld.add_argument("--duration", default="1m", help="how long the load runs (default 1m)")
    lk = kinds.add_parser("leak", help="leak check of module:function")
    lk.add_argument("target", metavar="MODULE:FUNCTION")
    lk.add_argument("--limit", default="1KB", help="growth per call that fails the check (default 1KB)")
    q = kinds.add_parser("query", help="timing and plan of an SQL statement")
    q.add_argument("sql", metavar="SQL")
    q.add_argument("--db", required=True, metavar="URL", help="sqlite:///FILE or postgresql://...")
    q.add_argument("--dsn-env", default="DATABASE_URL", metavar="NAME",
                   help="PostgreSQL: environment variable the test and profile read the DSN from")
    for k in (b, ld, lk, q):
        _scaffold_common(k)
        k.add_argument("--name", help="base name of the files written (default: from the target)")
        k.set_defaults(run=_run_new)


def _run_init(a: argparse.Namespace) -> int:
    from perflab.commands.scaffold import run_init

    return run_init(a)


def _run_new(a: argparse.Namespace) -> int:
    from perflab.commands.scaffold import run_new

    return run_new(a)


def _gate_parsers(sub: argparse._SubParsersAction) -> None:
    """baseline save|show|import, compare, history, ci github (implementations in perflab.commands.baselines)."""
    b = sub.add_parser("baseline", help=COMMAND_HELP["baseline"])
    bsub = b.add_subparsers(dest="action", required=True)
    save = bsub.add_parser("save", help="write a stored session as its profile's baseline")
    save.add_argument("session", help="session id, prefix, suffix or 'last'")
    save.add_argument("--allow-failed", action="store_true", help="accept a session that did not pass")
    show = bsub.add_parser("show", help="print a baseline (a profile name or a .json file)")
    show.add_argument("name")
    _shared(show, "json")
    imp = bsub.add_parser("import", help="import pytest-benchmark JSON (--benchmark-json or autosave files)")
    imp.add_argument("files", nargs="+", metavar="FILE.json", help="one file per process run")
    imp.add_argument("--profile", required=True, help="the profile name the baseline is for")
    for x in (save, show, imp):
        _shared(x, "store", "baseline_dir")
    b.set_defaults(run=_run_baseline)

    c = sub.add_parser("compare", help=COMMAND_HELP["compare"])
    c.add_argument("a", help="the reference: session id, baseline name or baseline .json")
    c.add_argument("b", help="the candidate")
    _shared(c, "store", "baseline_dir", "json")
    c.add_argument("--tolerance", type=float, help="minimum effect size as a ratio (default 0.01 when every metric compared is an "
                   "instruction count, else 0.05)")
    c.add_argument("--max-cv", type=float, default=0.10,
                   help="process medians varying more than this (CV) make a metric unstable (default 0.10)")
    c.set_defaults(run=_run_compare)

    h = sub.add_parser("history", help=COMMAND_HELP["history"])
    h.add_argument("profile")
    h.add_argument("--metric", default="median", help="metric name (default median)")
    _shared(h, "store", "json")
    h.add_argument("--limit", type=int, default=200)
    h.add_argument("--alpha", type=float, default=0.05, help="significance of a change point")
    h.set_defaults(run=_run_history)

    ci = sub.add_parser("ci", help=COMMAND_HELP["ci"])
    cisub = ci.add_subparsers(dest="provider", required=True)
    gh = cisub.add_parser("github", help="GitHub Actions workflow that fails the job on a regression")
    gh.add_argument("--profiles", default="profiles/", help="profiles to run (default profiles/)")
    gh.add_argument("--python", metavar="X.Y", help="Python version of the runner (default: this interpreter's)")
    gh.add_argument("--install", metavar="REQUIREMENT",
                    help="the pip requirement the workflow installs perflab with, e.g. "
                    "'perflab @ git+https://github.com/OWNER/perflab@COMMIT' (default: where this perflab "
                    "was installed from; perflab is on no package index)")
    gh.add_argument("--branch", default="main", help="the branch whose pushes the workflow gates (default main)")
    ci.set_defaults(run=_run_ci)


def _run_baseline(a: argparse.Namespace) -> int:
    from perflab.commands import baselines

    if a.action == "save":
        return baselines.baseline_save(a.store, a.session, a.baseline_dir, allow_failed=a.allow_failed)
    if a.action == "show":
        return baselines.baseline_show(a.name, a.baseline_dir, as_json=a.json)
    return baselines.baseline_import(a.files, a.profile, a.baseline_dir)


def _run_compare(a: argparse.Namespace) -> int:
    from perflab.commands import baselines

    return baselines.compare_cmd(a.a, a.b, a.store, a.baseline_dir, a.tolerance, a.max_cv, as_json=a.json)


def _run_history(a: argparse.Namespace) -> int:
    from perflab.commands import baselines

    return baselines.history(a.profile, a.metric, a.store, a.limit, a.alpha, as_json=a.json)


def _run_ci(a: argparse.Namespace) -> int:
    from perflab.commands import baselines

    return baselines.ci_github(a.profiles, a.python, a.install, a.branch)


def _worker_parser(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("worker", help=COMMAND_HELP["worker"],
                       description="Start Locust worker process(es) that join the master of a perflab load "
                                   "profile run elsewhere with remote_workers = N (README, section load).")
    w.add_argument("--master", required=True, metavar="HOST[:PORT]", help="the master (default port 5557)")
    w.add_argument("--locustfile", metavar="FILE", help="local locustfile (default: download the master's)")
    w.add_argument("--processes", type=int, default=1, help="worker processes to start (one per core)")
    w.set_defaults(run=_run_worker)


def _run_worker(a: argparse.Namespace) -> int:
    from perflab.commands.worker import cmd_worker

    return cmd_worker(a.master, a.locustfile, a.processes)


# Each entry adds its subcommand's parser; the parser sets ``run`` to a function that imports lazily.
SUBCOMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "sessions": _sessions_parser,
    "show": _sessions_parser,
    "baseline": _gate_parsers,
    "compare": _gate_parsers,
    "history": _gate_parsers,
    "ci": _gate_parsers,
    "replay": _replay_parser,
    "init": _scaffold_parser,
    "new": _scaffold_parser,
    "worker": _worker_parser,
}


def _sub_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perflab", epilog=EXIT_CODES_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    seen = set()
    for add in SUBCOMMANDS.values():
        if add not in seen:
            seen.add(add)
            add(sub)
    return p


def _unknown_command(word: str) -> str | None:
    """The error line for a first word that is neither a command, an option nor a path; None if it may be a
    profile path (it exists, or looks like one: a separator or a suffix), which the loader then judges."""
    import os

    if word.startswith("-") or os.sep in word or "." in word or os.path.exists(word):
        return None
    import difflib

    close = difflib.get_close_matches(word, list(COMMAND_HELP), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"perflab: unknown command '{word}'{hint} (commands: {', '.join(COMMAND_HELP)}; see perflab --help)"


def _internal_error(exc: BaseException) -> int:
    """A bug in perflab: one line on stderr, the full traceback in a log file whose path is printed."""
    import os
    import tempfile
    import time
    import traceback

    from perflab.core import redact

    text = redact.text("".join(traceback.format_exception(exc)))
    name = f"perflab-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    where = "not written"
    for folder in (os.path.join(os.environ.get("PERFLAB_STORE") or ".perflab", "logs"), tempfile.gettempdir()):
        try:
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"perflab {__version__}\nargv: {sys.argv!r}\n\n{text}")
            where = os.path.abspath(path)
            break
        except OSError:
            continue
    summary = redact.text(f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__)
    print(f"perflab: internal error, a bug in perflab ({summary}); traceback: {where}", file=sys.stderr)
    return int(ExitCode.INTERNAL_ERROR)


def _dispatch(args: list[str]) -> int:
    """Parse ``args`` and run the command; user mistakes become one line and their exit code."""
    try:
        if args and args[0] in SUBCOMMANDS:
            ns = _sub_parser().parse_args(args)
            return int(ns.run(ns))
        unknown = _unknown_command(args[0]) if args else None
        if unknown:
            print(unknown, file=sys.stderr)
            return int(ExitCode.BAD_INPUT)
        ns = _main_parser().parse_args(args)
        if ns.headless:
            if not ns.profiles:
                print("perflab: --headless needs at least one profile file or folder", file=sys.stderr)
                return 2
            from perflab.headless import HeadlessOptions, run_profiles

            return run_profiles(HeadlessOptions(profiles=ns.profiles, store=ns.store, json_path=ns.json_path,
                                                quiet=ns.quiet, extras=_gate_extras(ns)))
        from perflab.app import run_app  # the TUI; imported only here

        return run_app(ns)
    except SystemExit as e:  # argparse: exit 2 for bad arguments, 0 for --help
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    except Exception as e:  # a user mistake is one line; anything else is a bug (exit 4, traceback logged)
        from perflab.core.model import PerflabError

        if isinstance(e, PerflabError):
            from perflab.core import redact

            print(redact.text(f"perflab: {e}"), file=sys.stderr)
            return int(e.exit_code)
        return _internal_error(e)


class _HeldBack:
    """Holds back Python's reports of unraisable exceptions and warnings while the command runs, then shows
    them, unless the command was interrupted: Ctrl-C can land half-way through building an object (an asyncio
    event loop, a coroutine not yet started), whose clean-up then reports "Exception ignored in ...
    Traceback" or "coroutine was never awaited", consequences of the interruption, not news."""

    def __init__(self) -> None:
        self.unraisable: list[Any] = []
        self.interrupted = False

    def __enter__(self) -> _HeldBack:
        import warnings

        self._hook = sys.unraisablehook
        sys.unraisablehook = self.unraisable.append
        self._warnings = warnings.catch_warnings(record=True)
        self.caught = self._warnings.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        import warnings

        self._warnings.__exit__(*exc)
        sys.unraisablehook = self._hook
        if self.interrupted:
            return
        for u in self.unraisable:
            self._hook(u)
        for w in self.caught:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


def main(argv: Sequence[str] | None = None) -> int:
    """Run perflab with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Ctrl-C at any moment, from the first import of this module to the return, ends in the one line
    ``perflab: interrupted`` on stderr and 130, never a traceback: before the command starts it was remembered
    (see ``_remember_interrupt``), during it the KeyboardInterrupt is caught here, also when it lands in the
    handling of another error, and a run the engine stopped returns 130 itself. Called as the program
    (``argv`` None) SIGINT is then ignored, so interpreter shutdown cannot be interrupted either (Python
    otherwise restores the default action, which kills the process with no message), and Python's reports
    of what an interruption left half-built are dropped (``_HeldBack``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    code = int(ExitCode.INTERRUPTED)
    with _HeldBack() if argv is None else contextlib.nullcontext() as held:
        try:
            try:
                if argv is None:  # ``python -m perflab`` blocks SIGINT while it imports this module
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
                if _early_interrupts:  # Ctrl-C while perflab was loading: nothing has started
                    _early_interrupts.clear()
                else:
                    code = _dispatch(args)
            finally:
                if argv is None:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
        except KeyboardInterrupt:  # during the command, or while another error was being reported
            code = int(ExitCode.INTERRUPTED)
        if held is not None:
            held.interrupted = code == ExitCode.INTERRUPTED
    if code == ExitCode.INTERRUPTED:
        print("perflab: interrupted", file=sys.stderr)
    return code


# This module has loaded: from here a Ctrl-C raises KeyboardInterrupt again (main() catches it), so merely
# importing perflab.cli leaves the importer's Ctrl-C as it was.
if signal.getsignal(signal.SIGINT) is _remember_interrupt:
    signal.signal(signal.SIGINT, signal.default_int_handler)

if __name__ == "__main__":
    raise SystemExit(main())
