"""Run a profile through the real engine in this process and keep every event (cpu, memory, leak runner tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from perflab.core import profiles
from perflab.core.engine import Engine, Outcome
from perflab.core.model import Event
from perflab.runners.framework.base import RunContext, runner_for


class ListSink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def run_profile(text: str, tmp_path: Path, name: str = "p.toml") -> tuple[Outcome, ListSink]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    profile = profiles.load(path, base=tmp_path)
    sink = ListSink()
    engine = Engine(profile, [sink], runner_for=runner_for, context=RunContext, session_id="test",
                    artifacts_dir=tmp_path / "artifacts", workdir=tmp_path)
    return asyncio.run(engine.run()), sink
