"""No secret leaves the process: a run's every output is searched for the secret's value.

Outputs searched: stdout and stderr, --json, --junit, --markdown, $GITHUB_STEP_SUMMARY, every file of the
store folder (database, WAL, artifacts, logs), and what `perflab show` and `perflab replay --headless` print.
"""

from __future__ import annotations

import os
import sqlite3
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

TOKEN = "tok-5ecret-Zq81"  # noqa: S105 - a test value
DSN_PASSWORD = "S3cr%zzet-pw"  # noqa: S105 - percent escapes that are not valid: the driver quotes it alone


def outputs(tmp: Path, profile: Path, env: dict[str, str]) -> tuple[int, dict[str, bytes]]:
    """Run the profile with every output on; every byte perflab wrote or printed, by where it went."""
    store = tmp / "store"
    summary = tmp / "step-summary.md"
    files = {"json": tmp / "out.json", "junit": tmp / "out.xml", "markdown": tmp / "out.md"}
    env = {**env, "GITHUB_STEP_SUMMARY": str(summary), "PYTHONPATH": f"{tmp}:{REPO}"}
    run = run_cli("--headless", str(profile), "--store", str(store), "--json", str(files["json"]),
                  "--junit", str(files["junit"]), "--markdown", str(files["markdown"]), cwd=tmp, env=env,
                  timeout=180)
    got = {"stdout": run.stdout.encode(), "stderr": run.stderr.encode()}
    for name, path in [*files.items(), ("step summary", summary)]:
        assert path.exists(), f"{name} was not written: {run.stdout}{run.stderr}"
        got[name] = path.read_bytes()
    with sqlite3.connect(store / "perflab.db") as conn:  # everything committed, WAL folded in
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in store.rglob("*"):
        if path.is_file():
            got[f"store file {path.relative_to(store)}"] = path.read_bytes()
    for args in (["show", "last", "--logs", "200"], ["replay", "last", "--headless"]):
        out = run_cli(*args, "--store", str(store), cwd=tmp, env=env)
        got[" ".join(args)] = (out.stdout + out.stderr).encode()
    return run.returncode, got


def leaks(got: dict[str, bytes], *values: str) -> list[str]:
    return [f"{where}: {v!r}" for where, data in got.items() for v in values if v.encode() in data]


def test_script_target_raising_with_the_token(tmp_path: Path) -> None:
    (tmp_path / "leaky.py").write_text(textwrap.dedent("""
        import os
        tok = os.environ["API_TOKEN"]
        print("connecting with", tok, flush=True)
        raise ValueError(f"bad token {tok}")
    """))
    profile = tmp_path / "leaky.toml"
    profile.write_text('name = "leaky"\nsecrets = ["API_TOKEN"]\n[target]\nscript = "leaky.py"\n'
                       '[test]\ntype = "cpu"\nduration = "2s"\n')
    code, got = outputs(tmp_path, profile, {"API_TOKEN": TOKEN})
    assert code == 3, got["stdout"].decode() + got["stderr"].decode()
    assert b"bad token ***" in got["stdout"] + got["stderr"], "the error itself must still be shown"
    assert leaks(got, TOKEN) == []


def test_postgres_dsn_password_in_a_driver_error(tmp_path: Path) -> None:
    """The password alone, percent escapes and all, is hidden: psycopg quotes it in its parse error."""
    dsn = f"postgresql://app:{DSN_PASSWORD}@127.0.0.1:1/shop"
    profile = tmp_path / "pg.toml"
    profile.write_text('name = "pg"\n[target]\nengine = "postgres"\ndsn_env = "SHOP_DSN"\n'
                       'sql = "SELECT 1"\n[test]\ntype = "query"\nexecutions = 2\nwarmup = 0\n')
    code, got = outputs(tmp_path, profile, {"SHOP_DSN": dsn})
    assert code == 3, got["stdout"].decode() + got["stderr"].decode()
    assert b"invalid percent-encoded token" in got["stdout"], got["stdout"].decode()
    assert leaks(got, DSN_PASSWORD, "app:" + DSN_PASSWORD, dsn) == []


def test_redaction_does_not_hide_other_text(tmp_path: Path) -> None:
    """A control: with the variable unset nothing is redacted, and the token shows where the target put it."""
    (tmp_path / "loud.py").write_text('print("value tok-5ecret-Zq81")\n')
    profile = tmp_path / "loud.toml"
    profile.write_text('name = "loud"\nsecrets = ["API_TOKEN"]\n[target]\nscript = "loud.py"\n'
                       '[test]\ntype = "cpu"\nduration = "1s"\n')
    env = {k: v for k, v in os.environ.items() if k != "API_TOKEN"}
    _, got = outputs(tmp_path, profile, env)
    assert leaks(got, TOKEN), "the search must find a value that perflab was not told is secret"


def test_benchmark_artifacts_and_results(tmp_path: Path) -> None:
    """pytest-benchmark's own JSON (an artifact perflab keeps) holds what a test put in extra_info."""
    (tmp_path / "benches").mkdir()
    (tmp_path / "benches" / "test_tok.py").write_text(textwrap.dedent("""
        import os


        def test_with_token(benchmark):
            benchmark.extra_info["token"] = os.environ["API_TOKEN"]
            benchmark(sum, range(100))
    """))
    profile = tmp_path / "tok.toml"
    profile.write_text('name = "tok"\nsecrets = ["API_TOKEN"]\n[target]\npytest = "benches"\n'
                       '[test]\ntype = "benchmark"\nprocesses = 1\nmax_time = "0.05s"\nwarmup = false\n')
    code, got = outputs(tmp_path, profile, {"API_TOKEN": TOKEN})
    assert code == 0, got["stdout"].decode() + got["stderr"].decode()
    artifacts = [k for k in got if k.startswith("store file artifacts")]
    assert any(k.endswith(".json") for k in artifacts), sorted(got)
    assert leaks(got, TOKEN) == []
