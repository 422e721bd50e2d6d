"""Four headless runs of different types and the readers (the app's screens' lab calls, ``perflab sessions``,
``perflab replay last --headless``) on one store at the same time, round after round.

After every round: ``PRAGMA integrity_check`` is ok; every session of the round has a final status, ends with its
Finished event and agrees with what its run printed (exit code); the samples, logs and events stored are exactly
the counts the run reports in its --json output (``result.data.recorded``); no process printed a traceback.

Rounds: ``PERFLAB_STORE_ROUNDS`` (3 by default; 10 for the figure quoted in the README), and the summary line
(rounds, integrity failures, sessions incomplete, tracebacks) is printed with ``-s``:
``PERFLAB_STORE_ROUNDS=10 python -m pytest -s tests/reliability/test_store_concurrency.py``.
Everything perflab does here runs in subprocesses, so this module imports nothing of perflab.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

ROUNDS = int(os.environ.get("PERFLAB_STORE_ROUNDS", "3"))

RUNS = {
    "c-bench": """
        [target]
        callable = "perflab.demo.sorting:counting_sort"
        input = "perflab.demo.sorting:random_ints"
        [test]
        type = "benchmark"
        n = [100]
        processes = 1
        max_time = "0.2s"
    """,
    "c-cpu": """
        [target]
        callable = "perflab.demo.busy:crunch"
        [test]
        type = "cpu"
        duration = "2s"
        rate = 100
    """,
    "c-leak": """
        [target]
        callable = "perflab.demo.leaky:process_record_fixed"
        [test]
        type = "leak"
        warmup = 10
        iterations = 50
    """,
    "c-query": """
        [target]
        engine = "sqlite"
        database = "demo:shop"
        sql = [{ name = "by customer", sql = "SELECT id, total FROM orders WHERE customer_id = ?", params = [[7], [8]] }]
        [test]
        type = "query"
        warmup = 5
        executions = 60
        connections = 1
    """,
}

# The app's home and sessions screens call these lab functions on every reload.
APP_READER = textwrap.dedent("""
    import json, sys, time, traceback
    from pathlib import Path
    from perflab.lab import session as lab
    from perflab.core.model import PerflabError
    root, profiles, stop = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    loops, errors = 0, []
    while not stop.exists():
        try:
            lab.list_profiles(profiles, root)
            rows = lab.list_sessions(root)
            if rows:
                lab.get_session(root, rows[0].id)
            loops += 1
        except PerflabError as e:  # one line for a person: counted by the test unless it is "no store yet"
            errors.append(str(e))
        except Exception:
            errors.append(traceback.format_exc())
        time.sleep(0.02)
    print(json.dumps({"loops": loops, "errors": errors}))
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO)]))}


def _spawn(args: list[str], log: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Output to files, never pipes: a process printing more than a pipe holds must not stall on the test."""
    with open(f"{log}.out", "wb") as out, open(f"{log}.err", "wb") as err:
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err)


def _output(log: Path) -> tuple[str, str]:
    return (Path(f"{log}.out").read_text(errors="replace"), Path(f"{log}.err").read_text(errors="replace"))


def _write_profiles(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, body in RUNS.items():
        path = folder / f"{name}.toml"
        path.write_text(f'name = "{name}"\ntimeout = "3m"\n' + textwrap.dedent(body), encoding="utf-8")
        paths.append(path)
    return paths


def _check_round(db: Path, runs: dict[str, dict], problems: list[str]) -> tuple[bool, int]:
    """Integrity and completeness of one round's sessions; returns (integrity ok, sessions incomplete)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        ok = integrity == [("ok",)]
        if not ok:
            problems.append(f"integrity_check: {integrity[:3]}")
        incomplete = 0
        for name, run in runs.items():
            why = _incomplete(conn, run)
            if why:
                incomplete += 1
                problems.append(f"{name} ({run.get('session')}): {why}")
        return ok, incomplete
    finally:
        conn.close()


def _incomplete(conn: sqlite3.Connection, run: dict) -> str:
    sid = run.get("session")
    if not sid:
        return f"no --json output (exit {run['code']})"
    row = conn.execute("SELECT status, exit_code FROM sessions WHERE id=?", (sid,)).fetchone()
    if row is None:
        return "no session row"
    status, code = row
    if status in ("running", "crashed"):
        return f"status {status}"
    if code != run["code"]:
        return f"stored exit code {code}, the run exited {run['code']}"
    last = conn.execute("SELECT kind, data FROM events WHERE session=? ORDER BY t DESC, rowid DESC LIMIT 1",
                        (sid,)).fetchone()
    if last is None or last[0] != "finished":
        return f"last event {last[0] if last else None}, not finished"
    stored = {
        "samples": conn.execute("SELECT count(*) FROM samples s JOIN series r ON s.series = r.id WHERE r.session=?",
                                (sid,)).fetchone()[0],
        "logs": conn.execute("SELECT count(*) FROM logs WHERE session=?", (sid,)).fetchone()[0],
        "events": conn.execute("SELECT count(*) FROM events WHERE session=?", (sid,)).fetchone()[0],
    }
    reported = run.get("recorded")
    if reported != stored:
        return f"stored {stored}, the run reported {reported}"
    return ""


def test_concurrent_runs_and_readers_keep_every_session_whole(tmp_path: Path) -> None:
    profiles = _write_profiles(tmp_path / "profiles")
    store = tmp_path / "store"
    env = _env()
    perflab = [sys.executable, "-m", "perflab"]
    integrity_failures = incomplete = tracebacks = reader_errors = 0
    problems: list[str] = []
    started = time.monotonic()
    for rnd in range(ROUNDS):
        out = tmp_path / f"round{rnd}"
        out.mkdir()
        stop = out / "stop"
        app = _spawn([sys.executable, "-c", APP_READER, str(store), str(tmp_path / "profiles"), str(stop)],
                     out / "app", tmp_path, env)
        procs = {
            p.stem: _spawn([*perflab, "--headless", str(p), "--store", str(store), "-q",
                            "--json", str(out / f"{p.stem}.json")], out / p.stem, tmp_path, env)
            for p in profiles
        }
        # the CLI readers, one after another, for as long as the runs write
        reads = 0
        while any(p.poll() is None for p in procs.values()) or reads < 2:
            for args in (["sessions"], ["replay", "last", "--headless"]):
                r = subprocess.run([*perflab, *args, "--store", str(store)], cwd=tmp_path, env=env,
                                   capture_output=True, text=True, timeout=120)
                reads += 1
                tracebacks += (r.stdout + r.stderr).count("Traceback")
                # before the first session exists: "no session store here" / "no sessions stored yet" (exit 2)
                if r.returncode not in (0, 2) or (r.returncode == 2 and "no session" not in r.stderr):
                    reader_errors += 1
                    problems.append(f"perflab {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()[:300]}")
        runs: dict[str, dict] = {}
        for name, p in procs.items():
            p.wait(timeout=300)
            stdout, stderr = _output(out / name)
            tracebacks += (stdout + stderr).count("Traceback")
            if "Traceback" in stdout + stderr or p.returncode not in (0, 1):
                problems.append(f"{name}: exit {p.returncode}: {(stderr or stdout).strip()[-400:]}")
            doc = json.loads((out / f"{name}.json").read_text()) if (out / f"{name}.json").exists() else {}
            run = (doc.get("runs") or [{}])[0]
            runs[name] = {"code": p.returncode, "session": run.get("session"),
                          "recorded": (run.get("result") or {}).get("data", {}).get("recorded")}
        stop.touch()
        app.wait(timeout=120)
        app_out, app_err = _output(out / "app")
        tracebacks += app_err.count("Traceback")
        app_doc = json.loads(app_out.strip().splitlines()[-1]) if app_out.strip() else {"loops": 0, "errors": []}
        for e in app_doc["errors"]:
            tracebacks += e.count("Traceback")
            if "no session" not in e:  # the store may not exist yet in the very first moments
                reader_errors += 1
                problems.append(f"app reader: {e.strip()[-300:]}")
        ok, missing = _check_round(store / "perflab.db", runs, problems)
        integrity_failures += 0 if ok else 1
        incomplete += missing
        print(f"round {rnd + 1}: {reads} CLI reads, {app_doc['loops']} app reloads, "
              f"exit codes {[r['code'] for r in runs.values()]}", flush=True)
    summary = (f"store concurrency: rounds {ROUNDS}, integrity failures {integrity_failures}, sessions incomplete "
               f"{incomplete}, tracebacks {tracebacks}, reader errors {reader_errors} "
               f"({time.monotonic() - started:.0f} s)")
    print(summary)
    assert (integrity_failures, incomplete, tracebacks, reader_errors) == (0, 0, 0, 0), \
        summary + "\n" + "\n".join(problems)
