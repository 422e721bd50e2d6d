"""Every unit perflab reads or writes: parsing a quantity ("500ms", "2m", "10kB", "5%", "200/s") into SI base
units, and formatting SI values for people. Profiles (core.params), thresholds (core.thresholds) and every display
use this one vocabulary, so a unit a profile accepts is a unit a threshold accepts and the other way round.

SI base units: seconds, bytes, a ratio (1.0 = 100 %), per second, a plain count (instructions: "2M").
"""

from __future__ import annotations

import math
import re
from enum import StrEnum


class Kind(StrEnum):
    """What a quantity measures; the value is the phrase messages use."""

    TIME = "a duration"
    SIZE = "a size"
    RATIO = "a ratio"
    RATE = "a rate"
    COUNT = "a count"


# unit -> (its size in SI base units, kind). Sizes: kB and KB both mean 1000 bytes, KiB 1024.
UNITS: dict[str, tuple[float, Kind]] = {
    "ns": (1e-9, Kind.TIME), "us": (1e-6, Kind.TIME), "µs": (1e-6, Kind.TIME), "ms": (1e-3, Kind.TIME),
    "s": (1.0, Kind.TIME), "m": (60.0, Kind.TIME), "min": (60.0, Kind.TIME), "h": (3600.0, Kind.TIME),
    "B": (1.0, Kind.SIZE), "kB": (1e3, Kind.SIZE), "KB": (1e3, Kind.SIZE), "MB": (1e6, Kind.SIZE),
    "GB": (1e9, Kind.SIZE), "KiB": (1024.0, Kind.SIZE), "MiB": (1024.0**2, Kind.SIZE),
    "GiB": (1024.0**3, Kind.SIZE),
    "%": (0.01, Kind.RATIO), "/s": (1.0, Kind.RATE),
    # counts (instructions): decimal multiples; "m" is minutes and "B" bytes, so only k, M, G
    "k": (1e3, Kind.COUNT), "M": (1e6, Kind.COUNT), "G": (1e9, Kind.COUNT),
}

# A unit as a token: longest first, so "ms" is not read as "m" and "min" not as "m" + "in".
UNIT_PATTERN = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
NUMBER_PATTERN = r"[-+]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({NUMBER_PATTERN})\s*({UNIT_PATTERN})?\s*$")


def units_of(kind: Kind) -> tuple[str, ...]:
    return tuple(u for u, (_, k) in UNITS.items() if k == kind)


def parse(text: str, kind: Kind | None = None, *, unit_required: bool = True) -> float:
    """``text`` ("500ms", "2m", "10kB", "1.5 GiB", "5%") in SI base units. ValueError when it is not a number
    with one of UNITS, when the unit is of another kind than ``kind``, or when ``unit_required`` and there is
    no unit. The result may be infinite for absurd inputs ("1e999s"); callers bound it."""
    m = _QUANTITY.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"not a number with a unit: {text!r}")
    number, unit = float(m.group(1).replace("_", "")), m.group(2)
    if unit is None:
        if unit_required:
            raise ValueError(f"no unit in {text!r}")
        return number
    scale, unit_kind = UNITS[unit]
    if kind is not None and unit_kind != kind:
        raise ValueError(f"{unit!r} is not a unit of {kind.value}")
    return number * scale


def duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    s = abs(seconds)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{seconds / scale:.3g} {unit}" if s / scale < 999.5 else f"{seconds / scale:.0f} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def size(n: float | None, binary: bool = True) -> str:
    if n is None:
        return "-"
    step, units = (1024.0, ("B", "KiB", "MiB", "GiB", "TiB")) if binary else (1000.0, ("B", "kB", "MB", "GB", "TB"))
    v = float(n)
    for unit in units:
        if abs(v) < step or unit == units[-1]:  # 1000-1023 KiB stay digits, not "1e+03 KiB"
            return f"{v:.0f} {unit}" if unit == "B" or abs(v) >= 999.5 else f"{v:.3g} {unit}"
        v /= step
    return f"{v:.3g} {units[-1]}"


def rate(per_second: float | None, unit: str = "/s") -> str:
    if per_second is None:
        return "-"
    v = abs(per_second)
    if v >= 999.5e3:
        return f"{per_second / 1e6:.3g} M{unit}"
    if v >= 1e4:
        return f"{per_second / 1e3:.3g} k{unit}"
    return f"{per_second:.4g}{unit}"


def ratio(r: float | None) -> str:
    if r is None or (isinstance(r, float) and math.isnan(r)):
        return "-"
    return f"{r:.3g}x"


def percent(r: float | None, digits: int = 1) -> str:
    if r is None:
        return "-"
    return f"{r * 100:.{digits}f} %"


def value(v: float, unit: str) -> str:
    """Format a metric value by its unit name (s, B, ratio, /s, count, %, ref)."""
    if unit == "s":
        return duration(v)
    if unit == "B":
        return size(v)
    if unit == "/s":
        return rate(v)
    if unit == "ratio":
        return ratio(v)
    if unit == "%":
        return percent(v)
    if unit == "count":
        return f"{v:,.0f}"
    if unit == "ref":  # a time in units of the calibration reference loop (benchmark calibrate = true)
        return f"{v:.4g} ref"
    return f"{v:.4g}"
