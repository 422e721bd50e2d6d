"""The files a set of runs is asked to write: ``--json``, ``--junit``, ``--markdown`` and, when GitHub Actions sets
it, ``$GITHUB_STEP_SUMMARY``. Every one goes through core.redact (the writers in perflab.report do it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from perflab import __version__
from perflab.core import redact
from perflab.core.codec import result_to_dict
from perflab.core.engine import Outcome
from perflab.core.model import Profile
from perflab.report.markdown import ProfileReport

FORMAT = 2  # version of the --json document (2: table cells and notes are typed, docs/sessions.md)


@dataclass(frozen=True)
class Outputs:
    json: str | None = None
    junit: str | None = None
    markdown: str | None = None


def report(profile: Profile, outcome: Outcome) -> ProfileReport:
    return ProfileReport(profile.name, outcome.session_id, outcome.result, int(outcome.exit_code),
                         outcome.duration, outcome.comparison)


def write(outputs: Outputs, runs: Sequence[tuple[Profile, Outcome]]) -> tuple[list[str], list[str]]:
    """Write every requested file; (lines saying what was written, one line per file that could not be)."""
    from perflab.report import junit, markdown

    reports = [report(p, o) for p, o in runs]
    done: list[str] = []
    failed: list[str] = []
    writers = [(outputs.json, lambda path: write_json(path, runs)),
               (outputs.junit, lambda path: junit.write(path, reports)),
               (outputs.markdown, lambda path: markdown.write(path, reports))]
    for path, writer in writers:
        if path:
            try:
                writer(path)
            except OSError as e:
                failed.append(f"{path}: could not be written: {e.strerror or e}")
    try:
        target = markdown.append_step_summary(reports)
    except OSError as e:
        failed.append(f"$GITHUB_STEP_SUMMARY: could not be appended to: {e.strerror or e}")
    else:
        if target:
            done.append(f"summary appended to {target}")
    return done, failed


def write_json(path: str, runs: Sequence[tuple[Profile, Outcome]]) -> None:
    doc = {
        "perflab_version": __version__,
        "format": FORMAT,
        "runs": [
            {"profile": p.name, "profile_path": p.path, "test_type": p.test.type, "session": o.session_id,
             "exit_code": int(o.exit_code), "duration": o.duration, "result": result_to_dict(o.result)}
            for p, o in runs
        ],
    }
    Path(path).write_text(redact.text(json.dumps(doc, indent=2, default=str)) + "\n", encoding="utf-8")
