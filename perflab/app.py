"""PerflabApp: the Textual front end (being built in issue 6)."""

from __future__ import annotations

import argparse

from perflab.core.model import PerflabError


def run_app(ns: argparse.Namespace) -> int:
    raise PerflabError("the terminal app is not built yet; run profiles with --headless")
