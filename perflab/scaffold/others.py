"""``perflab new load|leak|query``: a test file and a profile for each (``new benchmark`` is in bench.py)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from perflab.core.model import PerflabError
from perflab.core.params import ParamError, duration
from perflab.scaffold import inputs, pycode, render
from perflab.scaffold.init import load_profile
from perflab.scaffold.target import TargetInfo


@dataclass(frozen=True)
class Files:
    test_rel: str
    profile_rel: str
    test_source: str
    profile_source: str
    todo: tuple[str, ...] = ()


def _duration_arg(flag: str, value: str) -> float:
    try:
        return duration(value)
    except ParamError as e:
        raise PerflabError(f"{flag}: {e}") from None


# ------------------------------------------------------------------ load


def load(url: str, *, users: int, p95: str, run_time: str, name: str | None) -> Files:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PerflabError(f"{url!r}: expected an http:// or https:// URL")
    if users <= 0:
        raise PerflabError(f"--users: expected a positive integer, got {users}")
    budget_ms = _duration_arg("--p95", p95) * 1000
    _duration_arg("--duration", run_time)
    host = f"{parts.scheme}://{parts.netloc}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    base = pycode.slug(name or (parts.hostname or "") + "_" + (parts.path.strip("/") or "root"))
    test_rel = f"tests/performance/locust_{base}.py"
    profile_name = f"load-{base.replace('_', '-')}"
    profile_rel = f"profiles/{profile_name}.toml"
    source = render.template("locustfile.py.tmpl", command="new load", host=host, profile=profile_rel,
                             locustfile=test_rel, login_path="/login", p95_ms=f"{budget_ms:g}",
                             path=path.replace("\\", "\\\\").replace('"', '\\"'))
    profile = load_profile(profile_name, test_rel, host, users=users, p95=p95, duration=run_time,
                           written_by=f"perflab new load {url}")
    return Files(test_rel, profile_rel, source, profile)


# ------------------------------------------------------------------ leak

_TOML_SIZE = 100  # elements in a literal argument written into the profile


def _toml_literal(kind: inputs.InputKind, rng: random.Random, n: int) -> str | None:
    """A TOML value for one argument of the leak profile (the runner passes ``args`` positionally)."""
    if kind == inputs.InputKind.INT:
        return str(n)
    if kind == inputs.InputKind.FLOAT:
        return f"{float(n)}"
    if kind == inputs.InputKind.INTS:
        return "[" + ", ".join(str(rng.randrange(n)) for _ in range(n)) + "]"
    if kind == inputs.InputKind.FLOATS:
        return "[" + ", ".join(f"{rng.random():.6f}" for _ in range(n)) + "]"
    if kind == inputs.InputKind.STRS:
        return "[" + ", ".join(f'"item-{rng.randrange(n)}"' for _ in range(n)) + "]"
    if kind == inputs.InputKind.TEXT:
        return '"' + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=n)) + '"'
    if kind == inputs.InputKind.DICT:
        return "{ " + ", ".join(f"key{i} = {rng.randrange(n)}" for i in range(n)) + " }"
    return None  # bytes have no TOML form


def leak(target: TargetInfo, root: Path, *, name: str | None, limit: str) -> Files:
    base = pycode.slug(name or target.name)
    func = pycode.identifier(name or target.name)
    test_rel = f"tests/performance/test_leak_{base}.py"
    profile_name = f"leak-{base.replace('_', '-')}"
    profile_rel = f"profiles/{profile_name}.toml"
    limit_bytes = _size_arg(limit)
    plan = inputs.plan(target.required) if target.params is not None else inputs.InputPlan((None,), ("args",))
    rng = random.Random(_TOML_SIZE)
    literals = [_toml_literal(k, rng, _TOML_SIZE) if k else None for k in plan.kinds]
    todo = tuple(n for n, lit in zip(plan.names, literals, strict=True) if lit is None)

    imports = pycode.Imports(root)
    imports.add("gc")
    imports.add("tracemalloc")
    head, _, rest = target.attr.partition(".")
    imports.add(target.module, head)
    call = head + (f".{rest}" if rest else "")
    if target.is_async:
        imports.add("asyncio")
    args_src = ""
    if plan.sized:
        items = []
        for n_, kind in zip(plan.names, plan.kinds, strict=True):
            if kind is None:
                items.append(f"todo({pycode.string(n_)})")
            else:
                expr = inputs.EXPRESSIONS[kind][0]
                items.append(expr)
        if any("rng" in x for x in items):
            imports.add("random")
        args_src = ("def make_args(n: int) -> tuple:\n"
                    + pycode.docstring("The arguments of every call (built once: only the target may keep "
                                       "memory).", "    ") + "\n"
                    + ("    rng = random.Random(n)\n" if any("rng" in x for x in items) else "")
                    + pycode.return_tuple(items))
    todo_src = ""
    if any(k is None for k in plan.kinds):
        todo_src = ("def todo(what: str):\n"
                    + pycode.docstring("A place perflab could not fill in: it fails loudly until you do.", "    ")
                    + '\n    raise NotImplementedError(f"TODO(perflab): build {what} in {__file__}")\n')
    doc = pycode.docstring(
        f"Leak check of {target.ref}, written by ``perflab new leak``.\n\n"
        f"Run as a test:\n    pytest {test_rel}\n"
        f"Fit the growth per call with perflab:\n    perflab --headless {profile_rel}\n\n"
        "The perflab profile fits the growth per call with a confidence interval and names the "
        "allocation sites that grow; this test is the quick guard that runs with the rest of the suite.")
    call_expr = f"{call}(*args)" if plan.sized else f"{call}()"
    if target.is_async:
        call_expr = f"asyncio.run({call_expr})"
    test_doc = (f"Requirement: calling {target.ref} repeatedly keeps less than {limit} per call once warm "
                "(caches filled), measured with tracemalloc after a full collection.")
    body = [
        "WARMUP = 20  # calls before measuring: caches and lazy imports fill here",
        "ITERATIONS = 200",
        f"LIMIT = {int(limit_bytes)}  # bytes per call ({limit})",
    ]
    test_lines = [
        f"def test_{func}_does_not_leak():",
        pycode.docstring(test_doc, "    "),
        "    args = make_args(100)" if plan.sized else "    args = ()",
        "    for _ in range(WARMUP):",
        f"        {call_expr}",
        "    gc.collect()",
        "    tracemalloc.start()",
        "    try:",
        "        before = tracemalloc.get_traced_memory()[0]",
        "        for _ in range(ITERATIONS):",
        f"            {call_expr}",
        "        gc.collect()",
        "        after = tracemalloc.get_traced_memory()[0]",
        "    finally:",
        "        tracemalloc.stop()",
        "    per_call = (after - before) / ITERATIONS",
        '    assert per_call < LIMIT, f"keeps {per_call:.0f} B per call (limit {LIMIT} B)"',
    ]
    if not plan.sized:
        test_lines[2:3] = []
        test_lines = [x.replace("(*args)", "()") for x in test_lines]
    defs = [x for x in (todo_src, args_src) if x] + ["\n".join(test_lines) + "\n"]
    source = (doc + "\n\n" + imports.render() + "\n\n" + "\n".join(body) + "\n\n\n" + "\n\n".join(defs))

    args_toml = ""
    if plan.sized:
        shown = [lit if lit is not None else '"TODO"' for lit in literals]
        args_toml = "args = [" + ", ".join(shown) + "]"
        if todo:
            args_toml = (f"# TODO(perflab): give {', '.join(todo)} a value: perflab could not guess it\n"
                         + args_toml)
    profile = f"""\
# Written by `perflab new leak {target.ref}`; the quick pytest guard is {test_rel}.
name = "{profile_name}"
description = "Does {target.ref} keep memory it should let go?"
timeout = "5m"
thresholds = ["growth_per_iter < {limit}"]

[target]
callable = "{target.ref}"
{args_toml}

[test]
type = "leak"
warmup = 20  # calls before measuring (caches fill)
iterations = 200
"""
    profile = re.sub(r"\n\n\n+", "\n\n", profile)
    return Files(test_rel, profile_rel, source, profile, todo)


def _size_arg(value: str) -> float:
    from perflab.core.params import size

    try:
        return size(value)
    except ParamError as e:
        raise PerflabError(f"--limit: {e}") from None


# ------------------------------------------------------------------ query


@dataclass(frozen=True)
class Database:
    engine: str  # sqlite or postgres
    path: str = ""  # sqlite file as given (relative to the project) or absolute


def parse_db(url: str) -> Database:
    """``sqlite:///rel.db``, ``sqlite:////abs.db``, a plain ``*.db`` path, or ``postgresql://...``."""
    if url.startswith(("postgres://", "postgresql://", "postgresql+psycopg://")):
        return Database("postgres")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if not path or path == ":memory:":
            raise PerflabError(f"--db {url}: an in-memory database has no tables to query; give a file")
        return Database("sqlite", path)
    if "://" not in url and url.endswith((".db", ".sqlite", ".sqlite3")):
        return Database("sqlite", url)
    raise PerflabError(f"--db {url!r}: expected sqlite:///FILE or postgresql://... ")


def query(sql: str, db_url: str, root: Path, *, name: str | None, dsn_env: str) -> Files:
    if not sql.strip():
        raise PerflabError("the SQL statement is empty")
    db = parse_db(db_url)
    if db.engine == "sqlite":
        file = Path(db.path) if Path(db.path).is_absolute() else root / db.path
        if not file.is_file():
            raise PerflabError(f"--db: {file}: no such SQLite database file")
        _check_sqlite(file, sql)
    words = re.findall(r"[A-Za-z_]\w*", sql)
    guess = next((w for i, w in enumerate(words) if i and words[i - 1].lower() in ("from", "into", "update")),
                 "query")
    base = pycode.slug(name or guess)
    test_rel = f"tests/performance/test_query_{base}.py"
    profile_name = f"query-{base.replace('_', '-')}"
    profile_rel = f"profiles/{profile_name}.toml"
    read_only = sql.lstrip().lower().startswith(("select", "with", "explain", "pragma"))
    imports = pycode.Imports(root)
    imports.add("pytest")
    if db.engine == "sqlite":
        imports.add("sqlite3")
        imports.add("pathlib", "Path")
        rel = db.path if not Path(db.path).is_absolute() else db.path
        if Path(db.path).is_absolute():
            where = f"Path({pycode.string(db.path)})"
        else:
            where = f"Path(__file__).resolve().parents[2] / {pycode.string(rel)}"
        mode = "?mode=ro" if read_only else ""
        fixture = (
            "@pytest.fixture\ndef connection():\n"
            + pycode.docstring("The database the query runs on (read-only when the query only reads).",
                               "    ") + "\n"
            + f'    conn = sqlite3.connect(f"file:{{DATABASE}}{mode}", uri=True)\n'
            + "    yield conn\n    conn.close()\n")
        consts = [f"DATABASE = {where}"]
        plan_sql = 'f"EXPLAIN QUERY PLAN {SQL}"'
        plan_check = ("    rows = connection.execute(" + plan_sql + ").fetchall()\n"
                      "    plan = \" \".join(str(row[-1]) for row in rows)\n"
                      "    # TODO(perflab): assert the index you expect, e.g.\n"
                      '    # assert "USING INDEX idx_orders_customer" in plan\n'
                      "    assert plan\n")
        run = "    result = benchmark(lambda: connection.execute(SQL).fetchall())\n"
    else:
        imports.add("os")
        imports.add("psycopg")
        fixture = (
            "@pytest.fixture\ndef connection():\n"
            + pycode.docstring(f"A connection to the database named by ${dsn_env} (the DSN is a secret: it "
                               "lives in the environment, never in a file).", "    ") + "\n"
            + "    dsn = os.environ.get(DSN_ENV)\n    if not dsn:\n"
            + '        pytest.skip(f"set {DSN_ENV} to the database DSN")\n'
            + "    with psycopg.connect(dsn, autocommit=True) as conn:\n        yield conn\n")
        consts = [f"DSN_ENV = {pycode.string(dsn_env)}"]
        plan_check = ("    with connection.cursor() as cur:\n"
                      '        cur.execute(f"EXPLAIN (FORMAT JSON) {SQL}")\n'
                      "        plan = cur.fetchone()[0]\n"
                      "    # TODO(perflab): assert the index you expect, e.g.\n"
                      '    # assert "idx_orders_customer" in str(plan)\n'
                      "    assert plan\n")
        run = ("\n    def execute():\n        with connection.cursor() as cur:\n"
               "            cur.execute(SQL)\n            return cur.fetchall() if cur.description else []\n\n"
               "    result = benchmark(execute)\n")
    consts.append("SQL = " + _py_sql(sql))
    doc = pycode.docstring(
        f"Timing and plan of one query, written by ``perflab new query``.\n\n"
        f"Run as a test:\n    pytest {test_rel}\n"
        f"Time it and check its plan with perflab:\n    perflab --headless {profile_rel}")
    test_doc = ("Requirement: the query answers within its committed baseline and its plan uses the "
                "index it was written for (no full scan of a large table).")
    test = (f"def test_{pycode.identifier(base)}(benchmark, connection):\n" + pycode.docstring(test_doc, "    ")
            + "\n" + run + "    assert isinstance(result, list)\n" + plan_check)
    source = (doc + "\n\n" + imports.render() + "\n\n" + "\n".join(consts) + "\n\n\n" + fixture + "\n\n" + test)
    if db.engine == "sqlite":
        target_db = f'engine = "sqlite"\ndatabase = {pycode.toml_string(db.path)}'
    else:
        target_db = f'engine = "postgres"\ndsn_env = "{dsn_env}"  # the DSN itself is never written to a file'
    secrets_line = f'secrets = ["{dsn_env}"]  # redacted from stored sessions\n' if db.engine == "postgres" else ""
    profile = f"""\
# Written by `perflab new query`; the pytest version is {test_rel}.
name = "{profile_name}"
description = "Latency and plan of one query."
timeout = "5m"
# Absolute limits and plan checks, e.g. ["p95 < 20ms", "no_full_scan"].
thresholds = []
{secrets_line}
[target]
sql = {_toml_sql(sql)}
{target_db}

[test]
type = "query"
warmup = 20
executions = 200
"""
    return Files(test_rel, profile_rel, source, profile)


def _py_sql(sql: str) -> str:
    s = sql.strip()
    if "\n" in s or len(s) > 70:
        if '"""' in s or s.endswith('"') or "\\" in s:
            return pycode.string(s)
        return '"""\n' + s + '\n"""'
    return pycode.string(s)


def _toml_sql(sql: str) -> str:
    s = sql.strip()
    if "\n" in s and "'''" not in s:
        return "'''\n" + s + "'''"
    return pycode.toml_string(s)


def _check_sqlite(file: Path, sql: str) -> None:
    """Ask SQLite to plan the statement now, so a typo is one line at generation time, not a red CI run."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise PerflabError(f"--db: {file}: {e}") from None
    try:
        conn.execute(f"EXPLAIN QUERY PLAN {sql}")
    except sqlite3.Error as e:
        raise PerflabError(f"the database rejected the SQL: {e}") from None
    finally:
        conn.close()
