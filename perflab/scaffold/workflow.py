"""The GitHub Actions workflow of the performance gate, and the pip requirement it installs perflab with.

One template (``templates/perflab.yml.tmpl``) serves ``perflab init``, which writes it, and ``perflab ci github``,
which prints it: one renderer means the two can never drift apart.

perflab is not published on a package index, so ``pip install perflab`` fails on a runner. The default
requirement is derived instead from how the running perflab was installed (the PEP 610 ``direct_url.json`` pip
records): CI installs perflab from the same source as the developer who generated the workflow. A local folder
is the one source a hosted runner cannot reach; :func:`local_warning` says so, and ``--install`` takes another.

The workflow installs valgrind, so benchmark profiles with ``measure = "instructions"`` (``perflab init``'s example)
gate on instruction counts, which a shared runner's noise does not move; :func:`timed_note` points wall-time
benchmark profiles at that mode.
"""

from __future__ import annotations

import json
import shlex
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from perflab import __version__
from perflab.scaffold import render

_RUN_INDENT = " " * 10  # the lines of the Install step's `run: |` block


def requirement_from(direct_url: dict[str, Any] | None, version: str) -> str:
    """The pip requirement that reinstalls the perflab a PEP 610 ``direct_url.json`` describes.

    A VCS install pins the commit it was built from (not the branch, which moves on): ``perflab @ git+URL@SHA``.
    A folder (editable or not) or an archive keeps its URL: ``perflab @ file:///abs/path``. No direct URL
    means pip took perflab from an index: ``perflab==version``."""
    if not direct_url or not direct_url.get("url"):
        return f"perflab=={version}"
    url = str(direct_url["url"])
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        url = f"{vcs['vcs']}+{url}"  # PEP 610 stores the URL without the `git+` prefix pip needs
        revision = vcs.get("commit_id") or vcs.get("requested_revision")
        if revision:
            url += f"@{revision}"
    if direct_url.get("subdirectory"):
        url += f"#subdirectory={direct_url['subdirectory']}"
    return f"perflab @ {url}"


def install_requirement() -> str:
    """The pip requirement for the running perflab, from its installed distribution's ``direct_url.json``."""
    try:
        dist = metadata.distribution("perflab")
    except metadata.PackageNotFoundError:
        # imported from a source tree on sys.path, never installed: that tree is what pip can build
        tree = Path(__file__).resolve().parents[2]
        if (tree / "pyproject.toml").is_file():
            return requirement_from({"url": tree.as_uri(), "dir_info": {}}, __version__)
        return requirement_from(None, __version__)
    text = dist.read_text("direct_url.json")
    try:
        doc = json.loads(text) if text else None
    except json.JSONDecodeError:
        doc = None  # a record pip wrote badly: fall back to the version, still a valid requirement
    return requirement_from(doc if isinstance(doc, dict) else None, dist.version)


def local_warning(requirement: str) -> str:
    """One line warning that ``requirement`` points at this machine's disk, or "" when a runner can reach it."""
    source = requirement.split(" @ ", 1)[-1].strip()
    if not source.startswith(("file:", "/", "./", "../", "~")):
        return ""
    return (f"perflab: warning: the workflow installs {requirement}, a local folder a hosted CI runner cannot "
            "reach; pass --install with a requirement it can reach, e.g. "
            "--install 'perflab @ git+https://github.com/OWNER/perflab@COMMIT'")


def timed_benchmarks(root: Path, profiles: str) -> list[str]:
    """The benchmark profiles among ``profiles`` (a file, or a folder's ``*.toml`` as the gate finds them, relative
    to ``root``) that time their benchmarks rather than count instructions: the gates a shared runner's noise can
    trip. Read as plain TOML; a file that does not parse is the gate's to report, not this function's."""
    path = root / profiles
    files = sorted(path.glob("*.toml")) if path.is_dir() else [path] if path.is_file() else []
    timed = []
    for file in files:
        try:
            test = tomllib.loads(file.read_text(encoding="utf-8")).get("test")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if isinstance(test, dict) and test.get("type") == "benchmark" and test.get("measure") != "instructions":
            timed.append(str(file.relative_to(root)) if file.is_relative_to(root) else str(file))
    return timed


def timed_note(timed: list[str]) -> str:
    """One line advising instruction counts for the wall-time benchmark profiles ``timed``, or "" for none."""
    if not timed:
        return ""
    shown = ", ".join(timed[:3]) + (f" and {len(timed) - 3} more" if len(timed) > 3 else "")
    verb = "times its" if len(timed) == 1 else "time their"
    return (f"perflab: note: {shown} {verb} benchmarks; on a shared CI runner a wall-time gate gives false alarms: "
            'set measure = "instructions" in [test] to gate on instruction counts (the workflow installs valgrind)')


def default_python() -> str:
    """The running interpreter's ``major.minor``: the version perflab and the suite were just used with."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _project_install(root: Path | None) -> str:
    """Install lines for the user's project: decided now from ``root``, or on the runner when it is None."""
    if root is None:
        lines = ["if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi",
                 "if [ -f pyproject.toml ] || [ -f setup.py ]; then python -m pip install -e .; fi"]
    else:
        lines = []
        if (root / "requirements.txt").is_file():
            lines.append("python -m pip install -r requirements.txt")
        if (root / "pyproject.toml").is_file() or (root / "setup.py").is_file():
            lines.append("python -m pip install -e .")
    return "".join(f"{_RUN_INDENT}{line}\n" for line in lines)


def render_workflow(*, install: str, python: str, profiles: str = "profiles/", branch: str = "main",
                    project_root: Path | None = None) -> str:
    """The workflow text: pip installs ``install`` (one requirement), then gates on ``profiles``.

    Shell words are quoted for `run:` (a direct-URL requirement holds spaces and ``@``); YAML scalars are
    written as JSON strings, which YAML reads as the same strings."""
    return render.template("perflab.yml.tmpl", install=shlex.quote(install), python=json.dumps(python),
                           profiles=shlex.quote(profiles), branch=json.dumps(branch),
                           install_project=_project_install(project_root))
