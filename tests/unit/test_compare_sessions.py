"""Comparing two stored sessions: a verdict is claimed only when a metric could be judged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perflab.core.model import Metric, Profile, Result, Status, Target, TestSpec, labels
from perflab.lab import session as lab
from perflab.lab.session import CompareVerdict
from perflab.store.sessions import SessionStore

KEY = "median{benchmark=f}"


def _store(root: Path, sid: str, per_process: list[list[float]]) -> str:
    raw = {KEY: tuple(tuple(p) for p in per_process)}
    metric = Metric("median", float(np.median(per_process[0])), "s", labels(benchmark="f"))
    with SessionStore(root) as st:
        prof = Profile("p", "", Target("callable", "m:f"), TestSpec("benchmark"))
        st.create_session(prof, machine={}, git=None, session_id=sid)
        st.finish_session(sid, Result(Status.PASSED, metrics=(metric,), raw=raw), 0, 1.0)
    return sid


def _rounds(center: float, processes: int, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [list(center * (1 + 0.01 * rng.standard_normal(20))) for _ in range(processes)]


def test_nothing_judged_is_inconclusive_not_passed(tmp_path: Path):
    a = _store(tmp_path, "20260101-000000-aaaaaa", _rounds(1e-3, 1, 1))  # one process: unstable
    b = _store(tmp_path, "20260101-000001-bbbbbb", _rounds(1e-3, 1, 2))
    c = lab.compare_sessions(tmp_path, a, b)
    assert c.verdict == CompareVerdict.INCONCLUSIVE
    assert c.result.status != Status.PASSED
    assert any(n.text.startswith("regression gate inconclusive") for n in c.result.notes)


def test_a_judged_metric_passes_or_fails(tmp_path: Path):
    a = _store(tmp_path, "20260101-000000-aaaaaa", _rounds(1e-3, 4, 1))
    same = _store(tmp_path, "20260101-000001-bbbbbb", _rounds(1e-3, 4, 2))
    slower = _store(tmp_path, "20260101-000002-cccccc", _rounds(2e-3, 4, 3))
    assert lab.compare_sessions(tmp_path, a, same).verdict == CompareVerdict.PASSED
    failed = lab.compare_sessions(tmp_path, a, slower)
    assert failed.verdict == CompareVerdict.FAILED and failed.result.status == Status.FAILED


def test_sessions_without_raw_samples_cannot_be_compared(tmp_path: Path):
    with SessionStore(tmp_path) as st:
        prof = Profile("p", "", Target("callable", "m:f"), TestSpec("benchmark"))
        for sid in ("20260101-000000-aaaaaa", "20260101-000001-bbbbbb"):
            st.create_session(prof, machine={}, git=None, session_id=sid)
            st.finish_session(sid, Result(Status.PASSED), 0, 1.0)
    c = lab.compare_sessions(tmp_path, "20260101-000000-aaaaaa", "20260101-000001-bbbbbb")
    assert c.verdict == CompareVerdict.ERROR and "raw samples" in c.result.message
