"""The new-run form's structured parts of a target: one row of fields per endpoint (method, path, weight, body)
or per SQL statement (statement, name), and how a field's text becomes the value its schema key expects.

Rows are generated from core.testtypes.ENDPOINT and STATEMENT (the keys a profile's ``target.endpoints`` and
``target.sql`` tables take); a row whose fields are all empty is left out. Field ids are ``row-{i}-{key}``; the
form remembers them like any other field.
"""

from __future__ import annotations

import json
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from textual.containers import Horizontal
from textual.widgets import Input, Select

from perflab.core import params as p
from perflab.core.params import HTTP_METHODS, Param

ROW_KINDS = ("endpoints", "sql")
# per kind: the keys a row offers, in order (a subset of the table's schema: headers and params_from stay in files)
ROW_KEYS: dict[str, tuple[str, ...]] = {"endpoints": ("method", "path", "weight", "json", "name"),
                                        "sql": ("sql", "name")}
ROW_HINTS = {"path": "path, e.g. /items?page=2", "weight": "weight: 1", "json": "body (JSON)", "name": "name",
             "sql": "statement, e.g. SELECT * FROM t WHERE id = ?"}
HEADERS = {"endpoints": "one row per endpoint: method, path, weight, JSON body, name in the statistics",
           "sql": "one row per statement: SQL (? or %s parameters), name in the results"}
ADD_KEY = "ctrl+n"


def field_value(text: str) -> Any:
    """A field's text as a value: TOML when it parses as a TOML value, else the text itself."""
    try:
        return tomllib.loads("x = " + text)["x"]
    except tomllib.TOMLDecodeError:
        return text


def coerce(text: str, param: Param | None, *, argv: bool = False) -> Any:
    """A field's text as the value its key takes. TOML values and plain text as :func:`field_value`; where the key
    takes a list, also the items without brackets ("100, 1000" or "100 1000"); command-line arguments
    (``argv``) as a shell splits them ("--port 8000 --quiet"). Probed with the key's own converter, so a value
    the validator would refuse is left as typed and the validator says why."""
    value = field_value(text)
    if param is None or _accepts(param, value):
        return value
    stripped = text.strip()
    if argv and not stripped.startswith("["):
        try:
            return shlex.split(stripped)
        except ValueError:
            return value
    if not stripped.startswith(("[", "{", '"')):
        for candidate in (field_value("[" + stripped + "]"),
                          [field_value(x) for x in stripped.replace(",", " ").split()]):
            if isinstance(candidate, list) and _accepts(param, candidate):
                return candidate
    return value


def _accepts(param: Param, value: Any) -> bool:
    try:
        param.convert(value)
        return True
    except (p.ParamError, ValueError, TypeError):
        return False


def body_value(text: str) -> Any:
    """A request body typed as JSON (``{"a": 1}``) or as a TOML value (``{ a = 1 }``)."""
    try:
        return json.loads(text)
    except ValueError:
        return field_value(text)


def rows_value(kind: str, rows: Sequence[Mapping[str, str]], schema: Mapping[str, Param]) -> list[Any]:
    """The target's list of tables from the rows' texts; empty rows left out, empty keys not written. A
    statement with only its SQL is written as a plain string, as profiles do."""
    out: list[Any] = []
    for row in rows:
        if not any(v.strip() for k, v in row.items() if k != "method"):
            continue
        item: dict[str, Any] = {}
        for key in ROW_KEYS[kind]:
            text = (row.get(key) or "").strip()
            if not text:
                continue
            if key == "json":
                item[key] = body_value(text)
            elif key in ("method", "path", "sql", "name"):
                item[key] = text
            else:
                item[key] = coerce(text, schema.get(key))
        out.append(item["sql"] if kind == "sql" and list(item) == ["sql"] else item)
    return out


def row_widgets(kind: str, i: int, memory: Mapping[str, str]) -> Horizontal:
    """Row ``i`` of ``kind``'s table, filled from ``memory`` (field id -> text)."""
    fields: list[Input | Select[str]] = []
    for key in ROW_KEYS[kind]:
        fid = f"row-{i}-{key}"
        if key == "method":
            method = memory.get(fid, "GET")
            fields.append(Select([(m, m) for m in HTTP_METHODS], value=method if method in HTTP_METHODS else "GET",
                                 allow_blank=False, id=fid, compact=True, classes="method"))
        else:
            fields.append(Input(memory.get(fid, ""), placeholder=ROW_HINTS.get(key, key), id=fid, compact=True,
                                classes=f"row-{key}"))
    return Horizontal(*fields, classes="target-row")
