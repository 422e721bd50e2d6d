"""Textual messages of the app: frozen payloads; a newer snapshot replaces an undelivered older one."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from perflab.core.aggregate import Snapshot


class SnapshotReady(Message):
    """A fresh snapshot of the run (at most ~10 per second)."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class RunEnded(Message):
    """The run's worker is done: ``outcome`` (core.engine.Outcome) or ``error`` (one line)."""

    def __init__(self, outcome: Any = None, error: str = "") -> None:
        super().__init__()
        self.outcome = outcome
        self.error = error


class Loaded(Message, bubble=False):
    """Data a screen's loading worker read off the UI thread; ``generation`` tells a stale load from the latest."""

    def __init__(self, generation: int, data: Any) -> None:
        super().__init__()
        self.generation = generation
        self.data = data


class ComparisonReady(Message):
    """Two sessions compared in a worker (``comparison`` is a lab.session.SessionComparison)."""

    def __init__(self, comparison: Any) -> None:
        super().__init__()
        self.comparison = comparison
