"""Every package perflab imports or launches at run time is a declared dependency, bounded where perflab reads
a tool's internals, and pinned in constraints.txt (what CI installs)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
# Tools perflab starts as programs or with `python -m` rather than importing: their distributions.
LAUNCHED = {"py-spy", "memray", "locust", "pytest", "pytest-benchmark", "pytest-codspeed", "uvicorn"}
# perflab parses these tools' output or uses their internals: a new major version may break it.
BOUNDED = {"pytest-benchmark", "pytest-codspeed", "locust", "memray", "textual", "textual-plotext", "py-spy", "hdrhistogram"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    assert m, req
    return norm(m.group(1))


def declared() -> dict[str, str]:
    return {requirement_name(r): r for r in PYPROJECT["project"]["dependencies"]}


def imported_top_levels(package: Path) -> dict[str, str]:
    """Top-level module names that ``package`` imports, outside the standard library, with one importing file."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != package.name:
                    found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_every_runtime_import_is_a_declared_dependency() -> None:
    dists = packages_distributions()
    deps = declared()
    imports = imported_top_levels(REPO / "perflab")
    assert "tomlkit" in imports  # the scanner sees the scaffold's imports (the module that once went undeclared)
    missing = {}
    for top, where in imports.items():
        owners = {norm(d) for d in dists.get(top, [])}
        assert owners, f"{top} (imported by {where}) is not installed in this environment"
        if not owners & set(deps):
            missing[top] = where
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_launched_tools_are_declared_and_internals_are_bounded() -> None:
    deps = declared()
    assert LAUNCHED <= set(deps), sorted(LAUNCHED - set(deps))
    unbounded = [deps[name] for name in BOUNDED if "<" not in deps[name]]
    assert not unbounded, f"no upper bound: {unbounded}"


def test_constraints_pin_every_declared_package() -> None:
    pins = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[norm(name)] = version
    extras = [r for group in PYPROJECT["project"]["optional-dependencies"].values() for r in group
              if not requirement_name(r).startswith("perflab")]
    wanted = {requirement_name(r) for r in [*PYPROJECT["project"]["dependencies"], *extras]}
    assert not wanted - set(pins), f"not pinned in constraints.txt: {sorted(wanted - set(pins))}"
