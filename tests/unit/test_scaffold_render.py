"""Rendering of `perflab init` / `perflab new` files, without subprocesses: content, validity, safe merges."""

from __future__ import annotations

import ast
import sqlite3
import tomllib
from pathlib import Path

import pytest
import yaml

from perflab.core import profiles
from perflab.core.model import PerflabError
from perflab.scaffold import bench, init, inputs, others, pycode, pytest_config, writer
from perflab.scaffold.target import Parameter, TargetInfo


def info(ref: str, params: list[tuple[str, str]] | None, *, is_async: bool = False, returns: str = "") -> TargetInfo:
    ps = None if params is None else tuple(Parameter(n, "POSITIONAL_OR_KEYWORD", False, a) for n, a in params)
    module, _, attr = ref.partition(":")
    return TargetInfo(ref, module, attr, is_async, ps, returns)


# ------------------------------------------------------------------ input guesses


@pytest.mark.parametrize(("name", "annotation", "kind"), [
    ("items", "", inputs.InputKind.INTS),
    ("anything", "list[int]", inputs.InputKind.INTS),
    ("anything", "Sequence[float]", inputs.InputKind.FLOATS),
    ("anything", "list[str]", inputs.InputKind.STRS),
    ("text", "", inputs.InputKind.TEXT),
    ("anything", "str", inputs.InputKind.TEXT),
    ("payload", "", inputs.InputKind.BYTES),
    ("n", "", inputs.InputKind.INT),
    ("anything", "int", inputs.InputKind.INT),
    ("anything", "dict[str, int]", inputs.InputKind.DICT),
    ("session", "", None),
    ("items", "Session", None),  # an annotation perflab cannot build beats a lucky name
])
def test_guess_reads_annotation_first_then_name(name: str, annotation: str, kind: inputs.InputKind | None) -> None:
    assert inputs.guess(Parameter(name, "POSITIONAL_OR_KEYWORD", False, annotation)) == kind


def test_every_input_expression_builds_a_value_of_size_n() -> None:
    import random

    for kind, (expr, _) in inputs.EXPRESSIONS.items():
        value = eval(expr, {"rng": random.Random(1), "n": 50})  # noqa: S307 - our own constant expressions
        if kind in (inputs.InputKind.INT, inputs.InputKind.FLOAT):
            assert value == 50
        else:
            assert len(value) == 50, kind


# ------------------------------------------------------------------ python source helpers


def test_imports_are_grouped_and_sorted_like_isort(tmp_path: Path) -> None:
    (tmp_path / "mypkg").mkdir()
    imp = pycode.Imports(tmp_path)
    for mod in ("random", "pytest", "asyncio"):
        imp.add(mod)
    imp.add("mypkg.mod", "run")
    imp.add("mypkg.mod", "Runner")
    imp.add("builtins", "sorted")  # needs no import
    imp.add("numpy", "sort", "np_sort")
    assert imp.render() == ("import asyncio\nimport random\n\n"
                            "import pytest\nfrom numpy import sort as np_sort\n\n"
                            "from mypkg.mod import Runner, run")


def test_docstring_wraps_to_the_formatter_line_length() -> None:
    text = "word " * 60
    doc = pycode.docstring(text, "    ")
    assert all(len(line) <= pycode.LINE for line in doc.splitlines())
    assert doc.startswith('    """word') and doc.endswith('    """')
    assert pycode.docstring("short") == '"""short"""'


# ------------------------------------------------------------------ new benchmark


def test_benchmark_with_compare_asserts_agreement_and_groups_by_size(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    target = info("pkg.mod:dedupe", [("items", "list[int]")], returns="list[int]")
    other = info("pkg.fast:dedupe", [("items", "")])
    f = bench.render(target, [other], [100, 10_000], tmp_path)
    assert f.test_rel == "tests/performance/test_bench_dedupe.py"
    assert f.profile_rel == "profiles/bench-dedupe.toml"
    tree = ast.parse(f.test_source)
    assert ast.get_docstring(tree)
    src = f.test_source
    assert "from pkg.fast import dedupe as dedupe_2" in src and "from pkg.mod import dedupe" in src
    assert "10_000," in src and "[rng.randrange(n) for _ in range(n)]" in src
    assert "expected = dedupe_2(*make_args(n))" in src and "assert result == expected" in src
    assert 'benchmark.group = f"dedupe n={n}"' in src
    test_fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "test_dedupe")
    assert (ast.get_docstring(test_fn) or "").startswith("Requirement:")
    assert not f.todo


def test_benchmark_leaves_a_marked_todo_for_an_input_it_cannot_guess(tmp_path: Path) -> None:
    target = info("pkg.mod:handle", [("request", "Request"), ("n", "int")])
    f = bench.render(target, [], [10], tmp_path)
    assert f.todo == ("request",)
    assert 'todo("request: Request")' in f.test_source
    assert "raise NotImplementedError" in f.test_source and "TODO(perflab)" in f.test_source
    compile(f.test_source, "x.py", "exec")


def test_async_target_runs_on_one_event_loop_per_test(tmp_path: Path) -> None:
    f = bench.render(info("pkg.mod:fetch", [("n", "int")], is_async=True, returns="int"), [], [1, 2], tmp_path)
    assert "asyncio.Runner()" in f.test_source and "blocking(IMPLEMENTATIONS[impl], runner)" in f.test_source
    assert "assert isinstance(result, int)" in f.test_source


def test_target_without_parameters_has_no_sizes(tmp_path: Path) -> None:
    f = bench.render(info("pkg.mod:warm", []), [], [100], tmp_path)
    assert "SIZES" not in f.test_source and "make_args" not in f.test_source
    assert "benchmark(IMPLEMENTATIONS[impl])" in f.test_source


def test_benchmark_profile_validates_and_points_at_the_test(tmp_path: Path) -> None:
    f = bench.render(info("pkg.mod:dedupe", [("items", "")]), [], [100], tmp_path)
    (tmp_path / f.test_rel).parent.mkdir(parents=True)
    (tmp_path / f.test_rel).write_text(f.test_source)
    prof = profiles.parse(f.profile_source, f.profile_rel, base=tmp_path)
    assert prof.name == "bench-dedupe" and prof.test.type == "benchmark"
    assert prof.target.kind == "pytest" and prof.target.value == f.test_rel
    assert prof.test.params["processes"] == 3 and prof.test.params["max_time"] <= 0.2


# ------------------------------------------------------------------ init


def test_init_plan_writes_a_suite_whose_profiles_validate(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    actions = init.plan(init.InitOptions(root=tmp_path))
    rels = {str(a.path.relative_to(tmp_path)) for a in actions}
    assert {"tests/performance/conftest.py", "tests/performance/test_example_benchmarks.py", "locustfile.py",
            "baselines/README.md", init.EXAMPLE_PROFILE, init.LOAD_PROFILE, "pyproject.toml",
            ".github/workflows/perflab.yml", ".gitignore"} <= rels
    writer.apply(actions, tmp_path, dry_run=False)
    for rel in (init.EXAMPLE_PROFILE, init.LOAD_PROFILE):
        prof = profiles.load(tmp_path / rel, base=tmp_path)
        assert prof.test.type in ("benchmark", "load")
    load = profiles.load(tmp_path / init.LOAD_PROFILE, base=tmp_path)
    assert load.target.options["host"] == init.DEFAULT_HOST and "PERF_PASSWORD" in load.secrets
    assert load.thresholds == ("p95 < 500ms", "error_rate < 1%")
    # every generated Python file at least compiles; ruff checks them in tests/runners/test_scaffold.py
    for p in tmp_path.rglob("*.py"):
        compile(p.read_text(), str(p), "exec")
    locust = (tmp_path / "locustfile.py").read_text()
    assert "wait_time = between(1, 3)" in locust and "@task(6)" in locust and "@task(1)" in locust
    assert 'os.environ.get("PERF_PASSWORD"' in locust and "process_exit_code = 1" in locust


def test_workflow_is_yaml_that_installs_gates_and_uploads(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    opts = init.InitOptions(root=tmp_path, install="perflab==0.1.0")
    actions = {str(a.path.relative_to(tmp_path)): a for a in init.plan(opts)}
    doc = yaml.safe_load(actions[".github/workflows/perflab.yml"].content)
    steps = doc["jobs"]["perflab"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any("pip install perflab==0.1.0 " in r and "pip install -e ." in r for r in runs)
    assert any(r.startswith("perflab --headless profiles/") for r in runs)
    assert any("python -m pytest tests/performance" in r for r in runs)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == ".perflab/" and upload["if"] == "always()"
    assert True in doc and "pull_request" in doc[True]  # YAML 1.1 reads the key `on` as a boolean


# ------------------------------------------------------------------ pytest configuration merges


def test_pyproject_merge_keeps_user_keys_and_comments(tmp_path: Path) -> None:
    text = ('[project]\nname = "x"  # the name\n\n[tool.pytest.ini_options]\n# mine\n'
            'addopts = "-ra --benchmark-max-time=2"\ntestpaths = ["tests"]\n')
    (tmp_path / "pyproject.toml").write_text(text)
    a = pytest_config.plan(tmp_path, ".")
    assert a.action == writer.Action.EDIT
    assert "# the name" in a.content and "# mine" in a.content
    data = tomllib.loads(a.content)["tool"]["pytest"]["ini_options"]
    assert data["testpaths"] == ["tests"] and data["pythonpath"] == ["."]
    assert data["addopts"].startswith("-ra --benchmark-max-time=2 ")  # the user's value kept, not duplicated
    assert data["addopts"].count("--benchmark-max-time") == 1 and "--benchmark-warmup=on" in data["addopts"]
    (tmp_path / "pyproject.toml").write_text(a.content)
    assert pytest_config.plan(tmp_path, ".").action == writer.Action.KEEP  # idempotent


def test_pyproject_without_pytest_section_gets_one_appended(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.ruff]\nline-length = 100\n')
    a = pytest_config.plan(tmp_path, "src")
    data = tomllib.loads(a.content)
    assert data["tool"]["ruff"] == {"line-length": 100}
    assert data["tool"]["pytest"]["ini_options"]["pythonpath"] == ["src"]


def test_no_config_creates_pytest_ini_and_existing_ini_is_edited_in_place(tmp_path: Path) -> None:
    a = pytest_config.plan(tmp_path, ".")
    assert a.action == writer.Action.CREATE and a.path.name == "pytest.ini"
    assert "--benchmark-warmup=on" in a.content
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = x\n\n[tool:pytest]\n# keep me\nmarkers = slow\n")
    b = pytest_config.plan(tmp_path, ".")
    assert b.path.name == "setup.cfg" and b.action == writer.Action.EDIT
    assert "# keep me" in b.content and "markers = slow" in b.content and "pythonpath = ." in b.content


def test_malformed_pyproject_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\nname=")
    with pytest.raises(PerflabError, match="pyproject.toml: not valid TOML"):
        pytest_config.plan(tmp_path, ".")


# ------------------------------------------------------------------ new load, leak, query


def test_load_files_validate_with_the_users_objective(tmp_path: Path) -> None:
    f = others.load("http://127.0.0.1:8123/api/items?limit=5", users=7, p95="300ms", run_time="20s", name=None)
    assert f.test_rel == "tests/performance/locust_127_0_0_1_api_items.py"
    (tmp_path / f.test_rel).parent.mkdir(parents=True)
    (tmp_path / f.test_rel).write_text(f.test_source)
    prof = profiles.parse(f.profile_source, f.profile_rel, base=tmp_path)
    assert prof.target.kind == "locustfile" and prof.target.options["host"] == "http://127.0.0.1:8123"
    assert prof.test.params["users"] == 7 and prof.test.params["duration"] == 20.0
    assert "p95 < 300ms" in prof.thresholds
    assert 'PATH = "/api/items?limit=5"' in f.test_source and '"PERF_P95_MS", "300"' in f.test_source
    with pytest.raises(PerflabError, match="--p95"):
        others.load("http://x", users=1, p95="fast", run_time="1s", name=None)
    with pytest.raises(PerflabError, match="http"):
        others.load("ftp://x", users=1, p95="1s", run_time="1s", name=None)


def test_leak_profile_passes_a_literal_argument(tmp_path: Path) -> None:
    f = others.leak(info("pkg.mod:process", [("records", "list[int]")]), tmp_path, name=None, limit="1KB")
    data = tomllib.loads(f.profile_source)
    assert data["target"]["callable"] == "pkg.mod:process" and len(data["target"]["args"][0]) == 100
    assert data["thresholds"] == ["growth_per_iter < 1KB"] and data["test"]["type"] == "leak"
    assert "tracemalloc.get_traced_memory()" in f.test_source and "LIMIT = 1000" in f.test_source
    compile(f.test_source, "x.py", "exec")


def test_query_for_sqlite_checks_the_sql_and_stores_no_secret(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER)")
    f = others.query("SELECT * FROM orders WHERE customer = 3", "sqlite:///shop.db", tmp_path, name=None,
                     dsn_env="DATABASE_URL")
    assert f.test_rel == "tests/performance/test_query_orders.py"
    data = tomllib.loads(f.profile_source)
    assert data["target"] == {"sql": "SELECT * FROM orders WHERE customer = 3", "engine": "sqlite",
                              "database": "shop.db"}
    with pytest.raises(PerflabError, match="rejected the SQL"):
        others.query("SELECT * FROM nowhere", "sqlite:///shop.db", tmp_path, name=None, dsn_env="X")
    pg = others.query("SELECT 1", "postgresql://u:hunter2@127.0.0.1/db", tmp_path, name="one", dsn_env="PG_DSN")
    assert "hunter2" not in pg.profile_source and "hunter2" not in pg.test_source
    assert tomllib.loads(pg.profile_source)["target"]["dsn_env"] == "PG_DSN"


# ------------------------------------------------------------------ writer


def test_writer_refuses_conflicts_without_force_and_writes_atomically(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("mine")
    plan = [writer.plan_file(tmp_path, "a.txt", "new", force=False),
            writer.plan_file(tmp_path, "sub/b.txt", "b", force=False)]
    with pytest.raises(PerflabError, match="a.txt: already exists; nothing written"):
        writer.apply(plan, tmp_path, dry_run=False)
    assert (tmp_path / "a.txt").read_text() == "mine" and not (tmp_path / "sub").exists()
    lines = writer.apply([writer.plan_file(tmp_path, "a.txt", "new", force=True)], tmp_path, dry_run=True)
    assert lines == ["would overwrite  a.txt"] and (tmp_path / "a.txt").read_text() == "mine"
    writer.apply([writer.plan_file(tmp_path, "a.txt", "new", force=True)], tmp_path, dry_run=False)
    assert (tmp_path / "a.txt").read_text() == "new"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
