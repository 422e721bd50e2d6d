"""Typed result values as text: the one place a table cell (core.model.Cell) becomes a string and a note gets
its colour. The console, Markdown, JUnit and the app's screens and widgets all call these, so a number reads
the same everywhere; the JSON documents keep the values themselves (core.codec).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from perflab.core import units
from perflab.core.model import Cell, Level, Note, Quantity

MISSING = "-"  # a cell with no value: None, or a number that is NaN

NOTE_STYLE = {Level.ERROR: "red", Level.WARNING: "yellow"}
KIND_STYLE = {"baseline.passed": "green"}  # good news worth a colour, though only informational


def cell(c: Cell) -> str:
    """``c`` for people: a Quantity by its unit (core.units.value), an int with thousands separators, a float
    with 4 significant digits, text as it is, None and NaN as "-", infinity as "∞" (with its sign)."""
    if c is None:
        return MISSING
    if isinstance(c, str):
        return c
    if isinstance(c, Quantity):
        if not math.isfinite(c.value):
            return _not_finite(c.value)
        return units.value(c.value, c.unit)
    if isinstance(c, bool):  # an int subclass; shown as a word, not 1 or 0
        return "yes" if c else "no"
    if isinstance(c, int):
        return f"{c:,}"
    if not math.isfinite(c):
        return _not_finite(c)
    return f"{c:.4g}"


def row(r: Iterable[Cell]) -> tuple[str, ...]:
    return tuple(cell(c) for c in r)


def _not_finite(v: float) -> str:
    if math.isnan(v):
        return MISSING
    return "∞" if v > 0 else "-∞"


def note_style(n: Note) -> str:
    """A rich style for a note: red for errors, yellow for warnings, green for a passed gate, else none."""
    return NOTE_STYLE.get(n.level) or KIND_STYLE.get(n.kind, "")
