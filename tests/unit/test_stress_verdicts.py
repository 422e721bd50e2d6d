"""Stress verdicts from measured steps (no Locust): a break at the lowest load fails, a knee needs evidence."""

from __future__ import annotations

from perflab.core.model import Profile, Status
from perflab.runners.load.stress import Search, Step, parse_slo, summarize


def _step(users: float, p50: float, ok: bool = True, phase: str = "step") -> Step:
    values = {"p50": p50, "p90": p50 * 1.5, "p95": p50 * 2, "p99": p50 * 3, "max": p50 * 4, "error_rate": 0.0,
              "rps": users * 10, "requests": users * 100}
    return Step(users, values, ok, [] if ok else ["p95 < 150ms"], {}, phase)


def _profile() -> Profile:
    from perflab.core import profiles

    return profiles.parse('name = "s"\n[target]\nurl = "http://127.0.0.1:1/"\n[test]\ntype = "stress"\n',
                               "s.toml")


def test_break_at_the_lowest_load_is_a_failure_without_breaking_point() -> None:
    search = Search([_step(10, 0.3, ok=False), _step(5, 0.05, phase="bisect")])
    r = summarize(_profile(), search, parse_slo(["p95 < 150ms"]), 50)
    assert r.status is Status.FAILED
    assert r.message == "the objective fails at the lowest load (10 users): p95 < 150ms"
    assert r.data["breaking_point"] is None and r.data["broke_at_lowest"] is True
    assert "breaking_point" not in {m.name for m in r.metrics}


def test_a_nearly_straight_curve_has_no_knee_and_a_bent_one_has_its_evidence() -> None:
    straight = Search([_step(u, 0.010 + 0.002 * u + (0.0004 if u % 4 else -0.0004)) for u in range(2, 18, 2)])
    r = summarize(_profile(), straight, parse_slo(["p95 < 1s"]), 50)
    assert r.status is Status.PASSED and r.data["knee"] is None
    assert not any("knee" in n.text for n in r.notes)
    bent = Search([_step(u, 0.020 + (0.015 * (u - 20) if u > 20 else 0.0002 * u)) for u in range(5, 40, 5)])
    r = summarize(_profile(), bent, parse_slo(["p95 < 1s"]), 50)
    assert r.data["knee"] == 20 and r.data["knee_fit"]["p"] < 0.05
    assert any(n.text.startswith("knee of the median latency curve at 20 users: two lines fit") for n in r.notes)
