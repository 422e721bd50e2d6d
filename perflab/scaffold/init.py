"""``perflab init``: a complete, runnable performance suite for the project in the current folder.

Writes tests/performance/ (fixtures and an example benchmark), locustfile.py, baselines/, profiles/ wired to
those files, the pytest configuration for benchmarks, and .github/workflows/perflab.yml (the CI gate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perflab.scaffold import pytest_config, render
from perflab.scaffold.workflow import default_python, install_requirement, render_workflow
from perflab.scaffold.writer import Action, FileAction, plan_file

DEFAULT_HOST = "http://127.0.0.1:8000"
EXAMPLE_PROFILE = "profiles/example-benchmarks.toml"
LOAD_PROFILE = "profiles/load/locust.toml"  # in a subfolder: `perflab --headless profiles/` skips it (no server)


@dataclass(frozen=True)
class InitOptions:
    root: Path
    host: str = DEFAULT_HOST
    force: bool = False
    dry_run: bool = False
    install: str | None = None  # the pip requirement the workflow installs perflab with; None: this perflab's
    branch: str = "main"


def example_profile() -> str:
    """The example benchmarks as the gated profile, counted in instructions: the gate CI can trust on a shared
    runner (the workflow installs valgrind)."""
    return """\
# Written by `perflab init`: the example benchmarks, run as a gated perflab profile.
name = "example-benchmarks"
description = "Membership lookups (list, sorted, set) and an in-place sort, counted in instructions."
timeout = "10m"
# Regressions are caught against baselines/example-benchmarks.json; record it where the gate runs (the
# same Python build counts the same instructions):
#   perflab --headless profiles/example-benchmarks.toml --save-baseline
# Absolute limits go here, e.g. thresholds = ["instructions < 2M"].
thresholds = []
# The gate fails a benchmark whose count rises by more than the tolerance (0.5 % by default for counts).

[target]
pytest = "tests/performance/test_example_benchmarks.py"

[test]
type = "benchmark"
# Counted under valgrind (apt-get install valgrind), not timed: one call of each benchmark executes the same
# instructions on a busy CI runner as on an idle laptop, where a wall-time gate on shared runners gives false
# alarms. For times, run `pytest tests/performance`, or set measure = "time" (then processes, max_time apply).
measure = "instructions"
"""


def load_profile(name: str, locustfile: str, host: str, *, users: int, p95: str, duration: str,
                 written_by: str) -> str:
    spawn = max(1, users // 5)
    return f"""\
# Written by `{written_by}`: Locust users from {locustfile} against {host}.
# The service must be running first. Secrets come from the environment, never from here.
name = "{name}"
description = "{users} users browsing {host}: p95 under {p95} and under 1 % errors."
timeout = "10m"
thresholds = ["p95 < {p95}", "error_rate < 1%"]
secrets = ["PERF_PASSWORD", "PERF_TOKEN"]  # redacted from stored sessions

[target]
locustfile = "{locustfile}"
host = "{host}"
env = {{ PERF_LOCUST_GATE = "off" }}  # perflab's thresholds above give the verdict

[test]
type = "load"
users = {users}
spawn_rate = {spawn}  # users started per second
duration = "{duration}"
"""


def _gitignore(root: Path, force: bool) -> FileAction:
    path = root / ".gitignore"
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(line.strip().rstrip("/") in (".perflab", "/.perflab") for line in text.splitlines()):
            return FileAction(path, text, Action.KEEP, ".perflab/ already ignored")
        sep = "" if not text or text.endswith("\n") else "\n"
        return FileAction(path, text + sep + "# perflab sessions and artifacts (baselines/ is committed)\n"
                          ".perflab/\n", Action.EDIT, "ignore .perflab/")
    return FileAction(path, "# perflab sessions and artifacts (baselines/ is committed)\n.perflab/\n",
                      Action.CREATE)


def plan(opts: InitOptions) -> list[FileAction]:
    root = opts.root
    pythonpath = "src" if (root / "src").is_dir() else "."
    f = opts.force
    workflow = render_workflow(install=opts.install or install_requirement(), python=default_python(),
                               branch=opts.branch, project_root=root)
    locust = render.template(
        "locustfile.py.tmpl", command="init", host=opts.host, profile=LOAD_PROFILE, locustfile="locustfile.py",
        login_path="/login", p95_ms="500", path="/")
    return [
        plan_file(root, "tests/performance/conftest.py", render.static("conftest.py.tmpl"), force=f),
        plan_file(root, "tests/performance/test_example_benchmarks.py",
                  render.static("test_example_benchmarks.py.tmpl"), force=f),
        plan_file(root, "locustfile.py", locust, force=f),
        plan_file(root, "baselines/README.md", render.static("baselines_README.md.tmpl"), force=f),
        plan_file(root, EXAMPLE_PROFILE, example_profile(), force=f),
        plan_file(root, LOAD_PROFILE, load_profile("locust", "locustfile.py", opts.host, users=10, p95="500ms",
                                                   duration="1m", written_by="perflab init"), force=f),
        pytest_config.plan(root, pythonpath),
        plan_file(root, ".github/workflows/perflab.yml", workflow, force=f),
        _gitignore(root, f),
    ]


NEXT_STEPS = """\
next steps:
  pytest tests/performance                      run the benchmarks as tests
  perflab --headless profiles/                  run them as the CI gate does (counted under valgrind)
  perflab --headless profiles/ --save-baseline  record the baselines, then commit baselines/
  perflab new benchmark pkg.module:function     benchmark your own code
  perflab --headless profiles/load/             load test (start the service at {host} first)"""
