"""core.judge: the one regression-gate rule behind the app's results and headless's exit code."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from perflab.core import machine, profiles
from perflab.core.judge import judge, settings_for
from perflab.core.model import Level, Note, Result, Status
from perflab.store.baselines import Baseline
from tests.unit.test_compare import FAST, SLOW, metrics, procs


def _profile(tmp_path: Path, gate: str = "") -> profiles.Profile:
    path = tmp_path / "p.toml"
    path.write_text(textwrap.dedent(f"""
        name = "judged"
        tolerance = "5%"
        [target]
        callable = "perflab.demo.sorting:counting_sort"
        [test]
        type = "benchmark"
        {gate}
    """))
    return profiles.load(path)


def _baseline(raw: dict, machine_info: dict) -> Baseline:
    return Baseline("judged", "benchmark", metrics(raw), {k: tuple(map(tuple, v)) for k, v in raw.items()},
                    machine=machine_info, created=1.0)


def test_slower_fails_the_result_and_the_comparison_is_stored(tmp_path: Path) -> None:
    base_raw = {FAST: procs(1e-3, 1), SLOW: procs(2e-3, 2)}
    cand_raw = {FAST: procs(1e-3, 3), SLOW: procs(2.3e-3, 4)}
    here = machine.fingerprint()
    result = Result(Status.PASSED, "ok", metrics(cand_raw), raw=cand_raw, notes=(Note("earlier note"),))
    out, c = judge(_profile(tmp_path), result, _baseline(base_raw, here), "session s1", here)
    assert c.failed and out.status == Status.FAILED
    assert out.message.startswith("regression: ") and "slow[n=10]" in out.message
    assert out.notes[0] == Note("earlier note") and out.notes[1].text.startswith("regression gate failed")
    assert (out.notes[1].level, out.notes[1].kind) == (Level.ERROR, "baseline.slower")
    stored = json.loads(json.dumps(out.data["comparison"]))  # JSON-able, as the store and --json need
    assert {r["verdict"] for r in stored["rows"]} == {"slower", "unchanged"}
    assert stored["candidate"] == "session s1" and stored["failed"] is True
    assert not any("another machine" in n.text for n in out.notes)


def test_unchanged_keeps_the_status_and_another_machine_is_warned_once(tmp_path: Path) -> None:
    raw = {FAST: procs(1e-3, 1)}
    here = machine.fingerprint()
    other = {**here, "cpu": "Imaginary 9000"}
    result = Result(Status.PASSED, "ok", metrics(raw), raw={FAST: procs(1e-3, 2)})
    out, c = judge(_profile(tmp_path), result, _baseline(raw, other), "session s2", here)
    assert not c.failed and out.status == Status.PASSED and out.message == "ok"
    warnings = [n for n in out.notes if n.kind == "baseline.machine"]
    assert len(warnings) == 1 and "Imaginary 9000" in warnings[0].text and warnings[0].level == Level.WARNING


def test_gate_table_sets_the_comparison(tmp_path: Path) -> None:
    s = settings_for(_profile(tmp_path, "[gate]\nmax_cv = 0.5"))
    assert s.tolerance == 0.05 and s.max_cv == 0.5
