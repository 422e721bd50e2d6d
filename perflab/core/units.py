"""Readable numbers with units (input always in SI base units)."""

from __future__ import annotations

import math


def duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    s = abs(seconds)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{seconds / scale:.3g} {unit}" if s / scale < 1000 else f"{seconds / scale:.0f} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def size(n: float | None, binary: bool = True) -> str:
    if n is None:
        return "-"
    step, units = (1024.0, ("B", "KiB", "MiB", "GiB", "TiB")) if binary else (1000.0, ("B", "kB", "MB", "GB", "TB"))
    v = float(n)
    for unit in units:
        if abs(v) < step or unit == units[-1]:
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.3g} {unit}"
        v /= step
    return f"{v:.3g} {units[-1]}"


def rate(per_second: float | None, unit: str = "/s") -> str:
    if per_second is None:
        return "-"
    v = abs(per_second)
    if v >= 1e6:
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
