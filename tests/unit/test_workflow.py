"""The one CI workflow: `perflab ci github` prints what `perflab init` writes, and the pip requirement it installs
perflab with comes from how this perflab was installed (PEP 610 direct_url.json). In-process, no subprocess."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from perflab import cli
from perflab.scaffold import workflow

WORKFLOW = ".github/workflows/perflab.yml"
GIT = "perflab @ git+https://example.org/team/perflab.git@0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n')
    (tmp_path / "requirements.txt").write_text("requests\n")
    monkeypatch.chdir(tmp_path)  # `perflab ci github` describes the project in the current folder
    return tmp_path


@pytest.mark.parametrize("extra", [
    [],  # every default: python of this interpreter, branch main, this perflab's requirement
    ["--branch", "release/2.x", "--install", GIT],
])
def test_ci_github_prints_byte_for_byte_what_init_writes(project: Path, capsys: pytest.CaptureFixture[str],
                                                         extra: list[str]) -> None:
    assert cli.main(["ci", "github", *extra]) == 0
    printed = capsys.readouterr().out
    assert cli.main(["init", *extra]) == 0
    capsys.readouterr()
    written = (project / WORKFLOW).read_text(encoding="utf-8")
    assert printed == written
    assert yaml.safe_load(printed) == yaml.safe_load(written)


def test_workflow_installs_one_quoted_requirement_then_the_project_and_gates(project: Path) -> None:
    text = workflow.render_workflow(install=GIT, python="3.12", profiles="perf profiles/", branch="release/2.x",
                                    project_root=project)
    doc = yaml.safe_load(text)
    assert doc[True]["push"]["branches"] == ["release/2.x"]  # YAML 1.1 reads the key `on` as a boolean
    steps = doc["jobs"]["perflab"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # perflab records each session's commit
    assert next(s for s in steps if "setup-python" in s.get("uses", ""))["with"]["python-version"] == "3.12"
    install = next(s["run"] for s in steps if s.get("name") == "Install").splitlines()
    assert shlex.split(install[1]) == ["python", "-m", "pip", "install", GIT, "pytest-benchmark", "locust"]
    assert install[2:] == ["python -m pip install -r requirements.txt", "python -m pip install -e ."]
    gate = shlex.split(next(s["run"] for s in steps if s.get("name") == "Performance gate"))
    assert gate[:3] == ["perflab", "--headless", "perf profiles/"]
    assert gate[gate.index("--json") + 1] == ".perflab/results.json" and "--junit" in gate and "--markdown" in gate
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == ".perflab/"


def test_without_a_project_root_the_runner_decides_what_to_install() -> None:
    doc = yaml.safe_load(workflow.render_workflow(install="perflab==1.0", python="3.11"))
    install = next(s["run"] for s in doc["jobs"]["perflab"]["steps"] if s.get("name") == "Install")
    assert "if [ -f requirements.txt ]" in install and "if [ -f pyproject.toml ]" in install


def test_a_local_requirement_warns_once_on_stderr_and_the_workflow_is_still_written(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = f"perflab @ {project.as_uri()}"
    assert cli.main(["init", "--install", local]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach" in err and "--install" in err
    assert shlex.quote(local) in (project / WORKFLOW).read_text()
    assert cli.main(["ci", "github", "--install", local]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "cannot reach" in err and shlex.quote(local) in out
    assert cli.main(["ci", "github", "--install", GIT]) == 0
    assert capsys.readouterr().err == ""


def test_the_former_option_name_still_sets_the_requirement(project: Path) -> None:
    assert cli.main(["init", "--perflab-spec", GIT]) == 0
    assert shlex.quote(GIT) in (project / WORKFLOW).read_text()


# ------------------------------------------------------------------ the requirement, from direct_url.json


@pytest.mark.parametrize(("direct_url", "expected"), [
    ({"url": "https://github.com/team/perflab.git",
      "vcs_info": {"vcs": "git", "requested_revision": "main", "commit_id": "abc123"}},
     "perflab @ git+https://github.com/team/perflab.git@abc123"),  # the commit, not the moving branch
    ({"url": "https://github.com/team/mono.git", "vcs_info": {"vcs": "git", "commit_id": "abc123"},
      "subdirectory": "tools/perflab"},
     "perflab @ git+https://github.com/team/mono.git@abc123#subdirectory=tools/perflab"),
    ({"url": "file:///home/ada/perflab", "dir_info": {}}, "perflab @ file:///home/ada/perflab"),
    ({"url": "file:///home/ada/perflab", "dir_info": {"editable": True}}, "perflab @ file:///home/ada/perflab"),
    ({"url": "file:///tmp/perflab-0.1.0.tar.gz", "archive_info": {"hashes": {"sha256": "00"}}},
     "perflab @ file:///tmp/perflab-0.1.0.tar.gz"),
    (None, "perflab==0.1.0"),  # no direct URL: installed from an index
])
def test_requirement_from_direct_url(direct_url: dict[str, Any] | None, expected: str) -> None:
    assert workflow.requirement_from(direct_url, "0.1.0") == expected


class _Dist:
    def __init__(self, direct_url: str | None) -> None:
        self.version = "2.3.4"
        self._text = direct_url

    def read_text(self, name: str) -> str | None:
        return self._text if name == "direct_url.json" else None


@pytest.mark.parametrize(("text", "expected"), [
    (json.dumps({"url": "file:///srv/perflab", "dir_info": {"editable": True}}), "perflab @ file:///srv/perflab"),
    (None, "perflab==2.3.4"),
    ("{not json", "perflab==2.3.4"),  # a damaged record still gives a valid requirement
])
def test_install_requirement_reads_the_installed_distribution(monkeypatch: pytest.MonkeyPatch, text: str | None,
                                                              expected: str) -> None:
    seen: list[str] = []

    def fake(name: str) -> _Dist:
        seen.append(name)
        return _Dist(text)

    monkeypatch.setattr(workflow.metadata, "distribution", fake)
    assert workflow.install_requirement() == expected and seen == ["perflab"]


def test_this_perflab_requirement_installs_from_where_it_was_installed() -> None:
    from importlib import metadata

    text = metadata.distribution("perflab").read_text("direct_url.json")
    expected = workflow.requirement_from(json.loads(text) if text else None, metadata.version("perflab"))
    assert workflow.install_requirement() == expected and expected.startswith("perflab")


@pytest.mark.parametrize(("requirement", "local"), [
    ("perflab @ file:///work/perflab", True),
    ("/work/perflab", True),
    ("perflab==0.1.0", False),
    (GIT, False),
    ("perflab @ https://example.org/perflab-0.1.0.tar.gz", False),
])
def test_only_a_local_requirement_is_warned_about(requirement: str, local: bool) -> None:
    assert bool(workflow.local_warning(requirement)) is local


# ------------------------------------------------------------------ instruction counts in CI


def test_the_workflow_installs_valgrind_before_the_gate_and_says_why(project: Path) -> None:
    text = workflow.render_workflow(install=GIT, python="3.12", project_root=project)
    steps = yaml.safe_load(text)["jobs"]["perflab"]["steps"]
    names = [s.get("name") for s in steps]
    assert names.index("Install") < names.index("Install valgrind") < names.index("Performance gate")
    valgrind = next(s["run"] for s in steps if s.get("name") == "Install valgrind")
    assert "sudo apt-get install -y valgrind" in valgrind
    head = text[:text.index("- name: Install valgrind")]
    assert 'measure = "instructions"' in head and "false alarms" in head and "deterministic" in head


def test_init_gates_its_example_benchmarks_on_instruction_counts(project: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from perflab.core import profiles
    from perflab.scaffold import init

    assert cli.main(["init", "--install", GIT]) == 0
    assert "time its" not in capsys.readouterr().err  # the example counts: no advice about it
    prof = profiles.load(project / init.EXAMPLE_PROFILE, base=project)
    assert prof.test.type == "benchmark" and prof.test.params["measure"] == "instructions"
    assert prof.tolerance == 0.005  # the count gate's default
    assert workflow.timed_benchmarks(project, "profiles/") == []


def test_ci_github_points_wall_time_benchmark_profiles_at_instruction_counts(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = project / "profiles"
    (folder / "load").mkdir(parents=True)
    bench = '[target]\npytest = "t.py"\n[test]\ntype = "benchmark"\n'
    (folder / "timed.toml").write_text(bench)
    (folder / "counted.toml").write_text(bench + 'measure = "instructions"\n')
    (folder / "web.toml").write_text('[target]\nurl = "http://x"\n[test]\ntype = "load"\n')
    (folder / "broken.toml").write_text("[test\n")  # the gate reports it, not this advice
    (folder / "load" / "deep.toml").write_text(bench)  # not in the folder the gate runs
    assert workflow.timed_benchmarks(project, "profiles/") == ["profiles/timed.toml"]
    assert workflow.timed_benchmarks(project, "profiles/counted.toml") == []
    assert workflow.timed_benchmarks(project, "nowhere/") == []
    assert cli.main(["ci", "github", "--install", GIT]) == 0
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "profiles/timed.toml times its benchmarks" in err
    assert 'measure = "instructions"' in err and "false alarms" in err
    assert yaml.safe_load(out)["jobs"]["perflab"]["steps"]  # the workflow is printed all the same
    many = workflow.timed_note([f"p{i}.toml" for i in range(5)])
    assert "p0.toml, p1.toml, p2.toml and 2 more time their benchmarks" in many
