"""Typed profile parameters: each kind converts a TOML value or says, in one phrase, what it expected.

Used by core.profiles (validation) and core.testtypes (the schema of each test type).

Converters are strict: a value of the wrong TOML type is refused, never converted (a string is not a list
of its characters, a number is not a string, a boolean is not a number, a fraction is not truncated to an
integer). The only conversions are the profile format's own syntax, documented in docs/profiles.md: a
duration is a number of seconds or a string with a unit (``"500ms"``), a size a number of bytes or a string
with a unit (``"10KiB"``), a fraction a number or a percentage string (``"5%"``), a command one string split
as a shell would, and an environment variable's number the text the child will see. Every converter's
message starts ``expected <what>``: the docs' reference shows ``<what>`` as the key's type.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perflab.core import units

Convert = Callable[[Any], Any]


class ParamError(ValueError):
    """The phrase after the key path: ``expected a positive integer, got "ten"``.

    ``at`` continues the key path into the value (``.HOME``, ``[2]``) when the problem is one entry of a
    table or list, so the message names that entry."""

    def __init__(self, message: str, at: str = "") -> None:
        super().__init__(message)
        self.at = at


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


def fail(expected: str, value: Any, at: str = "") -> ParamError:
    return ParamError(f"expected {expected}, got {shown(value)}", at)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_step(key: str) -> str:
    """``key`` as the next step of a key path: ``.name``, or ``."a b"`` when it is not a bare TOML key."""
    return f".{key}" if _BARE_KEY.fullmatch(key) else '."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Param:
    """One key of a profile table. ``default`` is the value when the key is absent, already in converted
    form (None: not set); ``help`` is one phrase for the docs' reference, never empty."""

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


def _unit_value(v: str, kind: units.Kind) -> float | None:
    """``v`` with a unit of ``kind`` (core.units, the vocabulary thresholds use too) in SI, or None."""
    try:
        return units.parse(v, kind)
    except ValueError:
        return None


def ratio(v: Any) -> float:
    """A fraction 0..1, written as 0.05 or "5%"."""
    pct = _unit_value(v, units.Kind.RATIO) if isinstance(v, str) else None
    if pct is not None:
        f = pct
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


def text(v: Any) -> str:
    """Any string, the empty one included (a description, a prefix that may be "")."""
    if not isinstance(v, str):
        raise fail("a string", v)
    return v


def string_list(v: Any) -> list[str]:
    """A list of non-empty strings; one string is not a list of one (write ``["x"]``)."""
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise fail("a list of strings", v)
    return list(v)


def any_list(v: Any) -> list[Any]:
    """A list of plain values (a callable's positional arguments): they reach the child as JSON."""
    if not isinstance(v, list):
        raise fail("a list", v)
    _plain(v, finite=False)
    return list(v)


def string_table(v: Any) -> dict[str, str]:
    """A table whose values are strings (HTTP headers)."""
    if not isinstance(v, dict):
        raise fail("a table of strings", v)
    for k, x in v.items():
        if not isinstance(x, str):
            raise fail("a string", x, key_step(k))
    return dict(v)


def table_of_lists(v: Any) -> dict[str, list[Any]]:
    """A table whose values are non-empty lists (parameter grids, crossed with each other)."""
    if not isinstance(v, dict):
        raise fail("a table of non-empty lists", v)
    for k, x in v.items():
        if not isinstance(x, list) or not x:
            raise fail("a non-empty list of values", x, key_step(k))
    _plain(v, finite=False)
    return {k: list(x) for k, x in v.items()}


def _plain(v: Any, *, finite: bool, what: str = "a string, number, boolean, list or table (not a date or time)",
           at: str = "") -> None:
    """Refuse, with the entry's key path, a TOML date or time anywhere inside ``v`` (and NaN or infinity when
    ``finite``): values handed to a child travel as JSON, which has no dates, and json.dumps would fail on them
    or a ``default=str`` would turn them into text. Iterative; the depth is bounded by the profile's nesting
    limit anyway."""
    stack: list[tuple[Any, str]] = [(v, at)]
    while stack:
        x, where = stack.pop()
        if isinstance(x, dict):
            stack.extend((y, where + key_step(str(k))) for k, y in x.items())
        elif isinstance(x, list):
            stack.extend((y, f"{where}[{i}]") for i, y in enumerate(x))
        elif isinstance(x, datetime.date | datetime.time) or not isinstance(x, str | int | float):
            raise fail(what, x, where)
        elif finite and isinstance(x, float) and not math.isfinite(x):
            raise fail("a finite number (JSON has no NaN or infinity)", x, where)


def json_value(v: Any) -> Any:
    """A value with a strict JSON form (an HTTP request body): a table, list, string, number or boolean at any
    depth, with no TOML date or time and no NaN or infinity."""
    _plain(v, finite=True, what="a JSON value (a table, list, string, number or boolean)")
    return v


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
            raise fail("a string or a number", x, key_step(k))
        if isinstance(x, float) and not math.isfinite(x):
            raise fail("a finite number", x, key_step(k))
        out[k] = str(x)
    return out


def any_table(v: Any) -> dict[str, Any]:
    """A table of plain values (keyword arguments): they reach the child as JSON."""
    if not isinstance(v, dict):
        raise fail("a table", v)
    _plain(v, finite=False)
    return dict(v)


_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def callable_ref(v: Any) -> str:
    if not isinstance(v, str) or not _REF.match(v):
        raise fail('a callable reference "module:function"', v)
    return v


def callable_refs(v: Any) -> list[str]:
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


def _quoted_number(v: Any) -> bool:
    """A string holding only a number: a number of base units written in quotes."""
    try:
        return isinstance(v, str) and math.isfinite(float(v))
    except ValueError:
        return False


def duration(v: Any) -> float:
    """Seconds, from a number (seconds) or a string with a unit such as "500ms", "2m"; finite, at most
    MAX_NUMBER. A string without a unit is refused: quoting makes it text, and the unit says what it means."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        f = _number(v)
        if f is None or f <= 0:
            bound = f", at most {MAX_NUMBER:g} s" if _too_big(v) else ""
            raise fail(f'a positive duration such as "30s"{bound}', v)
        return f
    if isinstance(v, str):
        value = _unit_value(v, units.Kind.TIME)
        if value is not None and 0 < value <= MAX_NUMBER:
            return value
    hint = " (a string needs a unit; a number of seconds needs no quotes)" if _quoted_number(v) else ""
    raise ParamError(f'expected a duration such as "500ms", "30s" or "2m", got {shown(v)}{hint}')


def size(v: Any) -> float:
    """Bytes, from a number or a string with a unit such as "10KiB", "200MB"; finite and at most 2**63 bytes.
    A string without a unit is refused, as for durations."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        f = float(v) if not isinstance(v, int) or v.bit_length() <= 64 else math.inf
        if 0 <= f <= MAX_INT:
            return f
    if isinstance(v, str):
        in_bytes = _unit_value(v, units.Kind.SIZE)
        if in_bytes is not None and 0 <= in_bytes <= MAX_INT:
            return in_bytes
    hint = " (a string needs a unit; a number of bytes needs no quotes)" if _quoted_number(v) else ""
    raise ParamError(f'expected a size such as "10KiB" or "200MB", got {shown(v)}{hint}')


def port(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 65536:
        raise fail("a TCP port between 1 and 65535", v)
    return v


def port_or_zero(v: Any) -> int:
    """A TCP port, or 0 for a free one picked when the run starts."""
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 65536:
        raise fail("a TCP port between 1 and 65535, or 0 for a free one", v)
    return v


_URL = re.compile(r"^https?://[^\s/]+")


def http_url(v: Any) -> str:
    if isinstance(v, str) and _URL.match(v):
        return v
    raise fail("an http:// or https:// URL", v)


HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def http_method(v: Any) -> str:
    """An HTTP method in any case, returned in capitals."""
    if isinstance(v, str) and v.upper() in HTTP_METHODS:
        return v.upper()
    raise fail("one of " + ", ".join(HTTP_METHODS) + " (in any case)", v)


def http_path(v: Any) -> str:
    if isinstance(v, str) and v.startswith("/"):
        return v
    raise fail('a path starting with "/"', v)


def parameter_rows(v: Any) -> list[Any]:
    """SQL parameter rows: a list whose items are lists (positional) or tables (named parameters)."""
    if not isinstance(v, list):
        raise fail("a list of parameter rows such as [[490], [495]]", v)
    for i, row in enumerate(v):
        if not isinstance(row, list | dict):
            raise fail("a parameter row: a list (positional) or a table (named)", row, f"[{i}]")
    _plain(v, finite=False)
    return list(v)


def non_negative_number(v: Any) -> float:
    f = _number(v)
    if f is None or f < 0:
        raise fail(f"a finite number >= 0, up to {MAX_NUMBER:g}" if _too_big(v) else "a number >= 0", v)
    return f


def load_steps(v: Any) -> list[tuple[int, float]]:
    """Load steps ``[[users, duration], ...]``, e.g. ``[[10, "10s"], [20, "10s"]]``; durations in seconds.
    An empty list is no steps (the load runner asks for steps when ``shape = "steps"``)."""
    what = 'a list of [users, duration] pairs such as [[10, "10s"], [20, "10s"]]'
    if not isinstance(v, list):
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
