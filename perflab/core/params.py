"""Typed profile parameters: each kind converts a TOML value or says, in one phrase, what it expected.

Used by core.profiles (validation) and core.testtypes (the schema of each test type).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Convert = Callable[[Any], Any]


class ParamError(ValueError):
    """The phrase after the key path: ``expected a positive integer, got "ten"``."""


SHOWN_CHARS = 60  # a value quoted in a message is cut to this many characters: a message stays one line


def printable(text: str, limit: int | None = None) -> str:
    """``text`` safe inside a one-line message: control and other non-printable characters (newlines, U+2028,
    NUL) escaped as in ``repr``, and cut to ``limit`` characters with an ellipsis."""
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "…"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(value: Any, depth: int = 0) -> str:
    """A short, bounded rendering of a TOML value: nesting, long lists and huge integers are abbreviated, so
    showing a hostile value costs little and never recurses deeply."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > 100:  # str() of a huge int is slow, and refused past 4300 digits
            return f"an integer of about {int((value.bit_length() - 1) * 0.30103) + 1} digits"
        return repr(value)
    if isinstance(value, str):
        if depth:  # inside a list: Python's quoting, which escapes non-printable characters itself
            return repr(value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS - 1] + "…")
        return f'"{printable(value, SHOWN_CHARS)}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        if depth >= 3:
            return "[...]"
        items = [shown(x, depth + 1) for x in value[:6]]
        return "[" + ", ".join(items) + (", ...]" if len(value) > 6 else "]")
    return printable(repr(value), SHOWN_CHARS)


def fail(expected: str, value: Any) -> ParamError:
    return ParamError(f"expected {expected}, got {shown(value)}")


@dataclass(frozen=True)
class Param:
    convert: Convert
    default: Any = None
    required: bool = False
    help: str = ""


# Integers beyond what a child's argv, SQLite (signed 64-bit) or the OS can take are refused when the
# profile loads rather than failing deep inside a run.
MAX_INT = 2**63 - 1
# A duration, or any number, above this (seconds: about 3 years) is a typo or hostile; thread and process
# waits overflow on values near 1e308.
MAX_NUMBER = 1e8


def _number(v: Any) -> float | None:
    """``v`` as a finite float within +-MAX_NUMBER, or None (a bool, a string, NaN, infinity, a huge value)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if isinstance(v, int) and v.bit_length() > 64:  # float() of a huge int raises OverflowError
        return None
    f = float(v)
    return f if math.isfinite(f) and abs(f) <= MAX_NUMBER else None


def positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise fail("a positive integer", v)
    if v > MAX_INT:
        raise fail(f"a positive integer up to {MAX_INT}", v)
    return v


def non_negative_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise fail("a non-negative integer", v)
    if v > MAX_INT:
        raise fail(f"a non-negative integer up to {MAX_INT}", v)
    return v


def _too_big(v: Any) -> bool:
    """A number that is not finite or beyond MAX_NUMBER (the message then names the bound)."""
    return _number(v) is None and isinstance(v, int | float) and not isinstance(v, bool)


def positive_number(v: Any) -> float:
    f = _number(v)
    if f is None or f <= 0:
        raise fail(f"a finite positive number up to {MAX_NUMBER:g}" if _too_big(v) else "a positive number", v)
    return f


def ratio(v: Any) -> float:
    """A fraction 0..1, written as 0.05 or "5%"."""
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            f = float(v.strip()[:-1]) / 100
        except ValueError:
            raise fail('a fraction such as 0.05 or "5%"', v) from None
    elif _number(v) is not None:
        f = float(v)
    else:
        raise fail('a fraction such as 0.05 or "5%"', v)
    if not 0 <= f <= 1:  # also refuses NaN from "nan%"
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


def env_table(v: Any) -> dict[str, str]:
    """Environment variables for a child: names without ``=`` or NUL, values strings or numbers (written as
    the child will see them); a table, list or boolean value is refused here rather than at run time."""
    if not isinstance(v, dict):
        raise fail("a table of environment variables", v)
    out: dict[str, str] = {}
    for k, x in v.items():
        if not k or "=" in k or "\0" in k:
            raise ParamError(f"{shown(k)} is not an environment variable name")
        if isinstance(x, bool) or not isinstance(x, str | int | float) or "\0" in str(x):
            raise ParamError(f"{k}: expected a string or a number, got {shown(x)}")
        out[k] = str(x)
    return out


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
    """Seconds, from a number (seconds) or a string such as "500ms", "2m"; finite, at most MAX_NUMBER."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        f = _number(v)
        if f is None or f <= 0:
            bound = f", at most {MAX_NUMBER:g} s" if _too_big(v) else ""
            raise fail(f'a positive duration such as "30s"{bound}', v)
        return f
    if isinstance(v, str):
        m = _DURATION.match(v)
        if m:
            value = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
            if 0 < value <= MAX_NUMBER:
                return value
    raise fail('a duration such as "500ms", "30s" or "2m"', v)


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(B|KB|MB|GB|KiB|MiB|GiB|kB)?\s*$")
SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "kB": 1000, "MB": 1000**2, "GB": 1000**3, "KiB": 1024,
              "MiB": 1024**2, "GiB": 1024**3}


def size(v: Any) -> float:
    """Bytes, from a number or a string such as "10KiB", "200MB"; finite and at most 2**63 bytes."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        f = float(v) if not isinstance(v, int) or v.bit_length() <= 64 else math.inf
        if 0 <= f <= MAX_INT:
            return f
    if isinstance(v, str):
        m = _SIZE.match(v)
        if m:
            f = float(m.group(1)) * SIZE_UNITS[m.group(2)]
            if f <= MAX_INT:
                return f
    raise fail('a size such as "10KiB" or "200MB"', v)


def port(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 65536:
        raise fail("a TCP port between 1 and 65535", v)
    return v


def non_negative_number(v: Any) -> float:
    f = _number(v)
    if f is None or f < 0:
        raise fail(f"a finite number >= 0, up to {MAX_NUMBER:g}" if _too_big(v) else "a number >= 0", v)
    return f


def load_steps(v: Any) -> list[tuple[int, float]]:
    """Load steps ``[[users, duration], ...]``, e.g. ``[[10, "10s"], [20, "10s"]]``; durations in seconds."""
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
