"""mkdocs hook: the profile reference, generated at build time from perflab's own schema declarations.

The keys, defaults and help texts come from importing ``perflab.core.profiles`` (top-level keys, ``[serve]``,
``[gate]``, target kinds) and ``perflab.core.testtypes`` (per test type: targets, target options, ``[test]``
parameters, metrics). Nothing is parsed from source text and nothing generated is committed, so the reference
cannot drift from what the validator accepts.

Every key's row shows its type, whether it is required, its default and its help; a key whose converter
names no type or that has no help fails the build (mkdocs reports the hook's error), so the reference cannot
show a blank.

Two outputs:

- the page ``reference.md`` (added to the site's files; it does not exist under docs/);
- inside any page, a line ``<!-- perflab-reference: test TYPE -->`` or ``<!-- perflab-reference: target TYPE -->``
  is replaced by that test type's ``[test]`` or ``[target]`` table, so the test-type pages show the same
  generated tables.

A key's type is the phrase its converter uses when it rejects a value (``expected a positive integer, got
...``), so the type column says what validation says. A converter that accepts the probe value, or fails
without that phrase, is a schema bug: the build stops and names the key.
"""

from __future__ import annotations

import posixpath
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

PAGE = "reference.md"
_MARKER = re.compile(r"^<!-- perflab-reference: (test|target) ([a-z_]+) -->$", re.M)


def _schema() -> tuple[Any, Any, Any, Any]:
    # The repository's perflab first, so a build from a checkout documents that checkout.
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    from perflab.core import model, params, profiles, testtypes

    return model, params, profiles, testtypes


class _Probe:
    """A value no converter accepts: the converter's error names the type it wanted."""

    def __repr__(self) -> str:
        return "<probe>"


def type_of(convert: Any, key: str = "?") -> str:
    """The phrase ``convert`` puts after "expected" when it refuses a value; ValueError if it has none."""
    _, params, _, _ = _schema()
    try:
        convert(_Probe())
    except params.ParamError as e:
        message = str(e)
        if message.startswith("expected ") and ", got " in message:
            return message.removeprefix("expected ").rsplit(", got ", 1)[0]
    raise ValueError(f"profile reference: the converter of {key} names no type (expected ..., got ...)")


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    if seconds >= 1:
        return f"{seconds:g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds * 1e6:g}us"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _size(n: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n / scale:g}{unit}"
    return f"{n:g}B"


def default_of(param: Any, kind: str) -> str:
    """The default as it would be written in a profile; ``kind`` is the key's type phrase (durations and
    sizes are shown with a unit)."""
    if param.required:
        return "-"
    value = param.default
    if value is None:
        return "not set"
    if "duration" in kind and isinstance(value, int | float):
        return f'`"{_duration(float(value))}"`'
    if "size" in kind and isinstance(value, int | float):
        return f'`"{_size(float(value))}"`'
    return f"`{_toml(value)}`"


def _text(s: str) -> str:
    """Plain help text as a Markdown table cell."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def table(schema: Mapping[str, Any], where: str = "") -> str:
    """A Markdown table of ``schema``: key, type, required, default, help. ``where`` names the table in errors."""
    rows = ["| key | type | required | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for key, param in schema.items():
        name = f"{where}.{key}" if where else key
        if not param.help.strip():
            raise ValueError(f"profile reference: {name} has no help text")
        kind = type_of(param.convert, name)
        required = "yes" if param.required else "no"
        rows.append(f"| `{key}` | {_text(kind)} | {required} | {default_of(param, kind)} | {_text(param.help)} |")
    return "\n".join(rows)


def type_tables(name: str, which: str) -> str:
    _, _, profiles, testtypes = _schema()
    tt = testtypes.get(name)
    if tt is None:
        raise ValueError(f"perflab-reference marker: no test type {name!r}")
    if which == "test":
        return table({"type": _TypeParam(tt.name), **tt.params}, f"{name}: test")
    kinds = ", ".join(f"`{k}`" for k in tt.target_kinds)
    argv = [k for k in tt.target_kinds if k in profiles.ARGV_KINDS]
    note = (f" With a {' or '.join(f'`{k}`' for k in argv)} target, `args` is a list of strings (the "
            "command-line arguments)." if argv and "args" in tt.target_options else "")
    return (f"The target is one of {kinds}.{note} Other `[target]` keys:\n\n"
            + table(tt.target_options, f"{name}: target"))


class _TypeParam:
    """The ``type`` key of ``[test]``, which the validator handles before the type's own parameters."""

    def __init__(self, name: str) -> None:
        _, params, _, _ = _schema()
        self.convert = params.choice(name)
        self.required = True
        self.default = None
        self.help = f'the test type: "{name}"'


def render() -> str:
    model, _, profiles, testtypes = _schema()
    out = [
        "# Profile reference",
        "",
        "Generated from perflab's schema (`perflab.core.profiles`, `perflab.core.testtypes`) each time the docs "
        "are built: these are exactly the keys the validator accepts. A key not listed is an error (`unknown "
        "key`, with a hint when a listed key is close). The type column is the phrase validation uses when it "
        "rejects a value. Durations are seconds or strings such as `\"500ms\"`, `\"30s\"`, `\"2m\"`; sizes are "
        "bytes or strings such as `\"10KiB\"`, `\"200MB\"`. Apart from these, a value of the wrong type is "
        "refused, never converted: a string is not a list of one string, a number is not a string "
        "(see [Profiles](profiles.md#types)). A default of \"not set\" means the key has no value unless given.",
        "",
        "## Top-level keys",
        "",
        table(profiles.TOP_LEVEL, "top level"),
        "",
        "## Target kinds",
        "",
        "`[target]` holds exactly one of these keys; the test type decides which it accepts.",
        "",
        "| kind | type | test types |",
        "| --- | --- | --- |",
    ]
    for kind in model.TARGET_KINDS:
        users = ", ".join(f"[{t.name}](#{t.name})" for t in testtypes.TEST_TYPES.values() if kind in t.target_kinds)
        out.append(f"| `{kind}` | {_text(type_of(profiles.KIND_CONVERT[kind], 'target.' + kind))} | {users} |")
    out += [
        "",
        "### Endpoint tables",
        "",
        "Each table of `endpoints` ([load](#load), [stress](#stress)):",
        "",
        table(testtypes.ENDPOINT, "target.endpoints[]"),
        "",
        "### Statement tables",
        "",
        "Each table of a `sql` list ([query](#query)); a plain string in the list is a statement with only `sql`:",
        "",
        table(testtypes.STATEMENT, "target.sql[]"),
    ]
    for name, schema in profiles.EXTRA_TABLES.items():
        out += ["", f"## `[{name}]`", "", table(schema, name)]
    out += ["", "## Test types", ""]
    for t in testtypes.TEST_TYPES.values():
        out += [
            f"### {t.name}",
            "",
            f"{_text(t.title)}." + ("" if t.built else f" Not built yet: {_text(t.note)}"),
            "",
            "#### `[target]`",
            "",
            type_tables(t.name, "target"),
            "",
            "#### `[test]`",
            "",
            type_tables(t.name, "test"),
            "",
            "Metrics for `thresholds`: " + ", ".join(f"`{m}`" for m in sorted(t.metrics)) + ".",
            "",
        ]
    return "\n".join(out)


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, PAGE, content=render()))
    return files


def _marker(which: str, name: str, src_uri: str) -> str:
    link = posixpath.relpath(PAGE, posixpath.dirname(src_uri) or ".")
    return f"`[{which}]` of a {name} profile ([reference]({link}#{name})):\n\n" + type_tables(name, which)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return _MARKER.sub(lambda m: _marker(m.group(1), m.group(2), page.file.src_uri), markdown)
