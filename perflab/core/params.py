"""Typed profile parameters: each kind converts a TOML value or says, in one phrase, what it expected.

Used by core.profiles (validation) and core.testtypes (the schema of each test type).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Convert = Callable[[Any], Any]


class ParamError(ValueError):
    """The phrase after the key path: ``expected a positive integer, got "ten"``."""


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def fail(expected: str, value: Any) -> ParamError:
    return ParamError(f"expected {expected}, got {_shown(value)}")


@dataclass(frozen=True)
class Param:
    convert: Convert
    default: Any = None
    required: bool = False
    help: str = ""


def positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise fail("a positive integer", v)
    return v


def non_negative_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise fail("a non-negative integer", v)
    return v


def positive_number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise fail("a positive number", v)
    return float(v)


def ratio(v: Any) -> float:
    """A fraction 0..1, written as 0.05 or "5%"."""
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            f = float(v.strip()[:-1]) / 100
        except ValueError:
            raise fail('a fraction such as 0.05 or "5%"', v) from None
    elif isinstance(v, int | float) and not isinstance(v, bool):
        f = float(v)
    else:
        raise fail('a fraction such as 0.05 or "5%"', v)
    if not 0 <= f <= 1:
        raise fail("a fraction between 0 and 1", v)
    return f


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise fail("true or false", v)
    return v


def string(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise fail("a non-empty string", v)
    return v


def string_list(v: Any) -> list[str]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise fail("a list of strings", v)
    return list(v)


def any_table(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise fail("a table", v)
    return dict(v)


_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def callable_ref(v: Any) -> str:
    if not isinstance(v, str) or not _REF.match(v):
        raise fail('a callable reference "module:function"', v)
    return v


def callable_refs(v: Any) -> list[str]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list):
        raise fail('a list of "module:function" references', v)
    return [callable_ref(x) for x in v]


def choice(*options: str) -> Convert:
    def convert(v: Any) -> str:
        if v not in options:
            raise fail("one of " + ", ".join(f'"{o}"' for o in options), v)
        return str(v)

    return convert


def list_of(item: Convert, what: str) -> Convert:
    def convert(v: Any) -> list[Any]:
        if not isinstance(v, list) or not v:
            raise fail(f"a non-empty list of {what}", v)
        out = []
        for x in v:
            try:
                out.append(item(x))
            except ParamError:
                raise fail(f"a non-empty list of {what}", v) from None
        return out

    return convert


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ns|us|µs|ms|s|m|min|h)?\s*$")
_DURATION_UNITS = {None: 1.0, "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "min": 60.0, "h": 3600.0}


def duration(v: Any) -> float:
    """Seconds, from a number (seconds) or a string such as "500ms", "2m"."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        if v <= 0:
            raise fail('a positive duration such as "30s"', v)
        return float(v)
    if isinstance(v, str):
        m = _DURATION.match(v)
        if m:
            value = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
            if value > 0:
                return value
    raise fail('a duration such as "500ms", "30s" or "2m"', v)


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(B|KB|MB|GB|KiB|MiB|GiB|kB)?\s*$")
SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "kB": 1000, "MB": 1000**2, "GB": 1000**3, "KiB": 1024,
              "MiB": 1024**2, "GiB": 1024**3}


def size(v: Any) -> float:
    """Bytes, from a number or a string such as "10KiB", "200MB"."""
    if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
        return float(v)
    if isinstance(v, str):
        m = _SIZE.match(v)
        if m:
            return float(m.group(1)) * SIZE_UNITS[m.group(2)]
    raise fail('a size such as "10KiB" or "200MB"', v)


def port(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 65536:
        raise fail("a TCP port between 1 and 65535", v)
    return v


def non_negative_number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise fail("a number >= 0", v)
    return float(v)


def load_steps(v: Any) -> list[tuple[int, float]]:
    """Load steps ``[[users, duration], ...]``, e.g. ``[[10, "10s"], [20, "10s"]]`` (issue 4)."""
    what = 'a list of [users, duration] pairs such as [[10, "10s"], [20, "10s"]]'
    if not isinstance(v, list) or not v:
        raise fail(what, v)
    out = []
    for item in v:
        if not isinstance(item, list) or len(item) != 2:
            raise fail(what, v)
        try:
            out.append((non_negative_int(item[0]), duration(item[1])))
        except ParamError:
            raise fail(what, v) from None
    return out
