"""pytest plugin loaded inside the benchmark child (``-p perflab.runners.agents.pytest_plugin``).

It streams, over the side channel, the collected benchmark count and each finished benchmark with every
round's raw time (seconds per iteration), as soon as it completes; under ``--benchmark-timer`` =
agents/reftimer.py also the reference loop's time around each round.
"""

from __future__ import annotations

from typing import Any

import pytest

from perflab.runners.agents import reftimer, wire


def pytest_collection_finish(session: pytest.Session) -> None:
    wire.channel().send(wire.BenchCollected(count=len(session.items)))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:  # a syntax or import error in a benchmark file: say which, in one line
        lines = [x[1:].strip() for x in str(report.longrepr).splitlines() if x.startswith("E ")]
        error = lines[-1] if lines else _error(report)
        wire.channel().send(wire.BenchCollectError(nodeid=report.nodeid, error=error))


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    reftimer.reset()
    wire.channel().send(wire.BenchStarted(nodeid=nodeid))


def _error(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The failure in one line, "file:line: ExcType: message", from pytest's own crash summary."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        message = str(crash.message).strip().splitlines()
        return f"{crash.path}:{crash.lineno}: {message[0] if message else 'failed'}"
    lines = [x for x in str(report.longrepr).strip().splitlines() if x.strip()]
    return lines[-1].strip() if lines else "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup" and report.failed:
        wire.channel().send(wire.BenchOutcome(nodeid=item.nodeid, outcome="error",
                                              longrepr=str(report.longrepr)[-4000:], error=_error(report)))
        return
    if call.when != "call":
        return
    fixture = getattr(item, "funcargs", {}).get("benchmark")
    meta = getattr(fixture, "stats", None) if fixture is not None else None
    if meta is None or not meta.stats.data:
        wire.channel().send(wire.BenchOutcome(nodeid=item.nodeid, outcome=report.outcome,
                                              longrepr=str(report.longrepr)[-4000:] if report.failed else "",
                                              error=_error(report) if report.failed else "",
                                              benchmark=fixture is not None))
        return
    wire.channel().send(wire.BenchResult(
        nodeid=item.nodeid,
        name=meta.name,
        fullname=meta.fullname,
        group=meta.group,
        params=meta.params,
        extra_info=dict(meta.extra_info or {}),
        iterations=meta.iterations,
        data=list(meta.stats.data),
        # calibrate = true: the reference loop's time around each round (agents/reftimer.py), else None
        ref=reftimer.take(len(meta.stats.data)) if getattr(fixture, "_timer", None) is reftimer.timer else None,
        outcome=report.outcome,
        longrepr=str(report.longrepr)[-4000:] if report.failed else "",
        error=_error(report) if report.failed else "",
    ))
