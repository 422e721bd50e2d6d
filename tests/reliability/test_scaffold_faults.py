"""Bad input to `perflab init` / `perflab new`: one line, exit 2, and nothing written (real CLI subprocesses)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("def func(items):\n    return sorted(items)\n")
    (root / "pkg" / "broken.py").write_text("import does_not_exist_anywhere\n")
    (root / "pyproject.toml").write_text('[project]\nname = "proj"\n')
    return root


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.mark.parametrize(("ref", "needle"), [
    ("nosuchpkg.mod:func", "cannot import module 'nosuchpkg.mod'"),
    ("pkg.broken:func", "cannot import module 'pkg.broken'"),  # the module exists but its import fails
    ("pkg.mod:nothere", "has no attribute 'nothere'"),
    ("pkg.mod", 'of the form "module:function"'),
])
def test_unusable_target_exits_2_naming_it_and_writes_nothing(project: Path, ref: str, needle: str) -> None:
    before = files(project)
    r = run_cli("new", "benchmark", ref, cwd=project)
    assert r.returncode == 2
    line = one_line_error(r)
    assert needle in line
    if "broken" in ref:
        assert "does_not_exist_anywhere" in line  # the reason, not only the name
    assert files(project) == before


def test_existing_files_need_force_and_dry_run_lists_without_writing(project: Path) -> None:
    before = files(project)
    r = run_cli("init", "--dry-run", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "would create  tests/performance/conftest.py" in r.stdout
    assert "would edit  pyproject.toml" in r.stdout
    assert files(project) == before

    assert run_cli("new", "benchmark", "pkg.mod:func", cwd=project).returncode == 0
    test_file = project / "tests/performance/test_bench_func.py"
    test_file.write_text("# the user's own edits\n")
    after_edit = files(project)

    r = run_cli("new", "benchmark", "pkg.mod:func", "--sizes", "5", cwd=project)
    assert r.returncode == 2
    assert "tests/performance/test_bench_func.py" in one_line_error(r) and "--force" in r.stderr
    assert files(project) == after_edit  # neither file touched, not even the profile

    r = run_cli("new", "benchmark", "pkg.mod:func", "--sizes", "5", "--dry-run", "--force", cwd=project)
    assert r.returncode == 0 and "would overwrite  tests/performance/test_bench_func.py" in r.stdout
    assert files(project) == after_edit

    r = run_cli("new", "benchmark", "pkg.mod:func", "--sizes", "5", "--force", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "SIZES = [\n    5,\n]" in test_file.read_text()


def test_init_twice_keeps_the_merged_config_and_refuses_to_overwrite(project: Path) -> None:
    assert run_cli("init", cwd=project).returncode == 0
    pyproject = (project / "pyproject.toml").read_text()
    r = run_cli("init", cwd=project)
    assert r.returncode == 0, r.stderr  # every file is identical: nothing to overwrite
    assert "keep  pyproject.toml" in r.stdout and (project / "pyproject.toml").read_text() == pyproject
    (project / "locustfile.py").write_text("# mine\n")
    r = run_cli("init", cwd=project)
    assert r.returncode == 2 and "locustfile.py: already exists" in one_line_error(r)
    assert (project / "locustfile.py").read_text() == "# mine\n"


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write into: immutable for root (chmod does not stop root), mode 0555 otherwise."""
    d = tmp_path / "locked"
    (d / "pkg").mkdir(parents=True)
    (d / "pkg" / "__init__.py").write_text("")
    (d / "pkg" / "mod.py").write_text("def func(n):\n    return n\n")
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if not chattr or subprocess.run([chattr, "+i", str(d)], capture_output=True).returncode != 0:
            pytest.skip("running as root without chattr +i: no way to make a folder unwritable")
        try:
            yield d
        finally:
            subprocess.run([chattr, "-i", str(d)], check=True)
    else:
        d.chmod(0o555)
        try:
            yield d
        finally:
            d.chmod(0o755)


@pytest.mark.parametrize("args", [["init"], ["new", "benchmark", "pkg.mod:func"]])
def test_unwritable_directory_exits_2_with_one_line(read_only: Path, args: list[str]) -> None:
    before = files(read_only)
    r = run_cli(*args, cwd=read_only)
    assert r.returncode == 2
    line = one_line_error(r)
    assert "not writable" in line or "permission denied" in line
    assert str(read_only) in line or "tests" in line
    assert files(read_only) == before


@pytest.mark.parametrize(("args", "needle"), [
    (["new", "benchmark", "pkg.mod:func", "--sizes", "ten"], "--sizes"),
    (["new", "load", "ftp://example.com"], "http:// or https://"),
    (["new", "load", "http://127.0.0.1:1/", "--p95", "soon"], "--p95"),
    (["new", "query", "--db", "mysql://x/y", "SELECT 1"], "--db"),
    (["new", "query", "--db", "sqlite:///missing.db", "SELECT 1"], "no such SQLite database file"),
    (["init", "--dir", "no/such/folder"], "no such project folder"),
])
def test_bad_options_exit_2_with_one_line(project: Path, args: list[str], needle: str) -> None:
    before = files(project)
    r = run_cli(*args, cwd=project)
    assert r.returncode == 2
    assert needle in one_line_error(r)
    assert files(project) == before


def test_malformed_pyproject_is_left_untouched(project: Path) -> None:
    (project / "pyproject.toml").write_text("[project\nname = ")
    before = files(project)
    r = run_cli("init", cwd=project)
    assert r.returncode == 2
    assert "pyproject.toml: not valid TOML" in one_line_error(r)
    assert files(project) == before


def test_target_that_hangs_at_import_is_cut_off_with_one_line(project: Path) -> None:
    (project / "pkg" / "slow.py").write_text("import time\n\ntime.sleep(60)\n\n\ndef func(n):\n    return n\n")
    before = files(project)
    r = run_cli("new", "benchmark", "pkg.slow:func", cwd=project, env={"PERFLAB_INSPECT_TIMEOUT": "2"}, timeout=30)
    assert r.returncode == 2
    assert "importing module 'pkg.slow' took longer than 2 s" in one_line_error(r)
    assert files(project) == before
