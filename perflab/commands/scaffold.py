"""The ``perflab init`` and ``perflab new ...`` commands: build a plan, check it, write it or list it.

Exit codes: 0 written (or listed with --dry-run), 2 bad input (unimportable target, a file that exists
without --force, an unwritable folder, a bad option); nothing is written when the answer is 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from perflab.core.model import PerflabError
from perflab.scaffold import bench, init, others, pytest_config, workflow, writer
from perflab.scaffold.target import inspect_target


def _root(value: str | None) -> Path:
    root = Path(value or ".").resolve()
    if not root.exists():
        raise PerflabError(f"{root}: no such project folder")
    if not root.is_dir():
        raise PerflabError(f"{root}: not a folder")
    return root


def _finish(actions: list[writer.FileAction], root: Path, dry_run: bool, todo: tuple[str, ...] = (),
            after: str = "") -> int:
    lines = writer.apply(actions, root, dry_run=dry_run)
    out = sys.stdout
    if dry_run:
        print("dry run: nothing written", file=out)
    for line in lines:
        print(line, file=out)
    if todo:
        print(f"TODO: perflab could not guess an input for {', '.join(todo)}; fill in the places marked "
              "TODO(perflab) before running", file=out)
    if after and not dry_run:
        print(after, file=out)
    return 0


def run_init(a: argparse.Namespace) -> int:
    root = _root(a.dir)
    install = a.install or workflow.install_requirement()
    opts = init.InitOptions(root=root, host=a.url or init.DEFAULT_HOST, force=a.force, dry_run=a.dry_run,
                            install=install, branch=a.branch)
    code = _finish(init.plan(opts), root, a.dry_run, after=init.NEXT_STEPS.format(host=opts.host))
    warning = workflow.local_warning(install)
    if warning:  # after the writing, so a refused init still says one line; the workflow is written regardless
        print(warning, file=sys.stderr)
    note = workflow.timed_note(workflow.timed_benchmarks(root, "profiles")) if not a.dry_run else ""
    if note:  # the project's own wall-time benchmark profiles, beside the counted example
        print(note, file=sys.stderr)
    return code


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(x.replace("_", "")) for x in value.split(",") if x.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s <= 0 for s in sizes):
        raise PerflabError(f"--sizes {value!r}: expected positive integers separated by commas, e.g. 100,10000")
    return sorted(set(sizes))


def _pair(root: Path, files_rel: tuple[str, str], sources: tuple[str, str], force: bool) -> list[writer.FileAction]:
    return [writer.plan_file(root, rel, src, force=force) for rel, src in zip(files_rel, sources, strict=True)]


def run_new(a: argparse.Namespace) -> int:
    root = _root(a.dir)
    kind = a.kind
    todo: tuple[str, ...] = ()
    if kind == "benchmark":
        sizes = _sizes(a.sizes)
        target = inspect_target(a.target, root)
        compares = [inspect_target(ref, root) for ref in a.compare or []]
        f = bench.render(target, compares, sizes, root, a.name)
        rels, srcs, todo = (f.test_rel, f.profile_rel), (f.test_source, f.profile_source), f.todo
        after = f"next: pytest {f.test_rel}   then   perflab --headless {f.profile_rel}"
    elif kind == "load":
        g = others.load(a.url, users=a.users, p95=a.p95, run_time=a.duration, name=a.name)
        rels, srcs = (g.test_rel, g.profile_rel), (g.test_source, g.profile_source)
        after = f"next: start the service, then   perflab --headless {g.profile_rel}"
    elif kind == "leak":
        target = inspect_target(a.target, root)
        g = others.leak(target, root, name=a.name, limit=a.limit)
        rels, srcs, todo = (g.test_rel, g.profile_rel), (g.test_source, g.profile_source), g.todo
        after = f"next: pytest {g.test_rel}   then   perflab --headless {g.profile_rel}"
    elif kind == "query":
        g = others.query(a.sql, a.db, root, name=a.name, dsn_env=a.dsn_env)
        rels, srcs = (g.test_rel, g.profile_rel), (g.test_source, g.profile_source)
        after = f"next: pytest {g.test_rel}   then   perflab --headless {g.profile_rel}"
    else:  # argparse only offers the kinds above
        raise PerflabError(f"unknown kind {kind!r}")
    if kind != "load" and pytest_config.plan(root, "src" if (root / "src").is_dir() else ".").action != \
            writer.Action.KEEP:
        after += ("\nnote: pytest is not configured for these tests yet (pythonpath, benchmark options): "
                  "run `perflab init`, or use `python -m pytest` from the project folder")
    return _finish(_pair(root, rels, srcs, a.force), root, a.dry_run, todo, after)
