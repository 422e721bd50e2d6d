"""TOML profile files -> Profile.

Validation collects every problem before giving up, and each problem names the file, the line (where it can
be found) and the key path: ``profiles/sort.toml:9: test.rounds: expected a positive integer, got "ten"``.

The schema is declared, not coded: ``TOP_LEVEL`` and ``EXTRA_TABLES`` here, and in core.testtypes each test
type's tables plus the ``ENDPOINT`` and ``STATEMENT`` tables inside a target, map every key to a ``Param`` (a
strict converter from core.params, a default, whether it is required, a help phrase). The docs' profile
reference is generated from these same declarations, so what the reference lists is what validation accepts.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perflab.core import counts, testtypes
from perflab.core import params as p
from perflab.core.model import TARGET_KINDS, PerflabError, Profile, Target, TestSpec
from perflab.core.params import Param, ParamError


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        # one problem is one line whatever the file holds: keys and values may contain newlines or be huge
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f"{p.printable(self.key, KEY_CHARS)}: " if self.key else ""
        return p.printable(f"{where}: {key}{self.message}")


class ProfileError(PerflabError):
    """One or more problems in a profile; ``str()`` is one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(x) for x in problems))


KEY_CHARS = 120  # a key path is cut to this many characters in a message
# Deeper nesting of tables and arrays than any test type uses; refused before anything walks the data, since
# deeply nested values make recursive code (repr, json, copy) fail far from the profile.
MAX_DEPTH = 32


def _profile_name(v: Any) -> str:
    name = p.string(v)
    if len(name) > 200 or not name.isprintable():
        raise p.fail("a name of at most 200 printable characters", v)
    return name


def _log_limit(v: Any) -> int:
    """Whole bytes: a number must be whole; a size with a unit ("1.3KiB") is rounded down."""
    if isinstance(v, float) and not v.is_integer():
        raise p.fail('a whole number of bytes, or a size such as "4MiB"', v)
    n = int(p.size(v))
    if n < 1024:
        raise p.ParamError(f"expected at least 1KiB, got {p.shown(v)}")
    return n


def _thresholds(v: Any) -> list[str]:
    return p.string_list(v)


TOP_LEVEL: dict[str, Param] = {
    "name": Param(_profile_name, help="short name (default: the file's name without .toml); baselines are keyed "
                                      "on it"),
    "description": Param(p.text, default="", help="what the profile answers; shown beside its name"),
    "timeout": Param(p.duration, help="the whole run is stopped after this long (default: no limit)"),
    "thresholds": Param(_thresholds, default=[], help='gates such as "p95 < 500ms"'),
    "tolerance": Param(p.ratio, default=0.05, help="minimum effect size for baseline comparison (0.5 % for a "
                       'benchmark with measure = "instructions")'),
    "monitor_hz": Param(p.positive_number, default=10.0, help="process monitor sampling rate"),
    "secrets": Param(p.string_list, default=[], help="names of environment variables holding secrets"),
    "log_limit": Param(_log_limit, default=4 << 20,
                       help="target output stored per session (head and tail kept, the rest counted), e.g. \"4MiB\""),
}
# Top-level tables other than [target] and [test]; a runner that needs one (e.g. [serve]) adds it here.
EXTRA_TABLES: dict[str, dict[str, Param]] = {}


_COMMAND = "a command: a list of strings, or one string split as a shell would"


def _command(v: Any) -> list[str]:
    """argv: a list of strings as given, or one string split by shell rules (no shell runs it)."""
    if isinstance(v, str):
        try:
            parts = shlex.split(v)
        except ValueError as e:  # an unclosed quote or a trailing backslash
            raise p.ParamError(f"expected {_COMMAND}, got {p.shown(v)} ({str(e).lower()})") from None
        if parts:
            return parts
    elif isinstance(v, list) and v and all(isinstance(x, str) for x in v) and v[0].strip():
        return list(v)
    raise p.fail(_COMMAND, v)


def _ready_path(v: Any) -> str:
    if v == "" or (isinstance(v, str) and v.startswith("/")):
        return v
    raise p.fail('a path starting with "/", or "" for none', v)


# [serve]: a server perflab starts before a load or stress test and stops after it (runners/load/server.py).
EXTRA_TABLES["serve"] = {
    "command": Param(_command, required=True, help='"demo" (the embedded HTTP app) or the server\'s command; '
                     "{port} is replaced by the port"),
    "args": Param(p.string_list, default=[], help="more arguments (demo: --slow-delay, --cpu-ms, --fail-rate)"),
    "port": Param(p.port_or_zero, default=0, help="port on 127.0.0.1 (0: a free one)"),
    "ready_timeout": Param(p.duration, default=20.0, help="how long to wait for the port to accept connections"),
    "ready_path": Param(_ready_path, default="",
                        help='HTTP path that must answer below 500 ("": the port accepting a connection is enough)'),
    "cwd": Param(p.string, help="working directory, relative to the profile's folder"),
    "env": Param(p.env_table, default={}, help="extra environment variables (strings or numbers)"),
}


# [gate]: how strict the comparison with the baseline is (core.compare, README "baselines"); the minimum
# effect size is the top-level ``tolerance``.
EXTRA_TABLES["gate"] = {
    "max_cv": Param(p.positive_number, default=0.10,
                    help="a side whose process medians vary more (CV, 0.10 = 10 %) is unstable"),
    "confidence": Param(p.ratio, default=0.95, help="two-sided level of the ratio's confidence interval"),
    "min_processes": Param(p.positive_int, default=2, help="fewer processes on a side: unstable"),
    "min_rounds": Param(p.positive_int, default=5, help="a process with fewer rounds: unstable"),
    "max_processes": Param(p.positive_int, default=10,
                           help="timed benchmarks: add processes one at a time, up to this many, while the "
                                "comparison is inconclusive (test.processes is the first batch)"),
    "baseline_processes": Param(p.positive_int, default=10,
                                help="timed benchmarks: processes of a run saved as the baseline "
                                     "(--save-baseline, --update-baseline), so the reference has less error"),
    "inconclusive": Param(p.choice("pass", "fail"), default="pass",
                          help='an inconclusive gate (nothing slower, something not judged): "pass" warns and '
                               'exits 0, "fail" exits 1'),
}


def _sql(v: Any) -> Any:
    if isinstance(v, str) and v.strip():
        return v
    if isinstance(v, list) and v and all(isinstance(x, dict) or (isinstance(x, str) and x.strip()) for x in v):
        return v
    raise p.fail("an SQL statement, or a list of statements (strings or statement tables)", v)


def _endpoints(v: Any) -> list[dict[str, Any]]:
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        return [dict(x) for x in v]
    raise p.fail("a non-empty list of endpoint tables", v)


KIND_CONVERT: dict[str, Callable[[Any], Any]] = {
    "callable": p.callable_ref,
    "pytest": p.string,
    "script": p.string,
    "command": _command,
    "locustfile": p.string,
    "url": p.http_url,
    "endpoints": _endpoints,
    "pid": p.positive_int,
    "sql": _sql,
}
PATH_KINDS = ("pytest", "script", "locustfile")
# Kinds whose ``args`` are a process's command-line arguments (strings); a callable's positional arguments
# may be any value.
ARGV_KINDS = ("script", "command")


def _hint(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class _Locator:
    """Best-effort mapping of a key path to its line in the TOML text (tomllib gives no positions)."""

    # No two parts of a pattern may match the same characters: with overlapping parts (``\s*`` around a
    # lazy group) a long line of spaces inside a multi-line string took minutes to fail to match.
    _HEADER = re.compile(r"^\s*\[\[?([^\]]*)\]\]?\s*(?:#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        table = ""
        for no, raw in enumerate(text.split("\n"), start=1):  # TOML's lines: splitlines() also splits at U+2028
            h = self._HEADER.match(raw)
            if h:
                table = h.group(1).strip().replace('"', "").replace("'", "")
                self.lines.setdefault(table, no)
                continue
            k = self._KEY.match(raw)
            if k:
                key = k.group(1).strip("\"'")
                path = f"{table}.{key}" if table else key
                self.lines.setdefault(path, no)

    def line(self, key: str) -> int | None:
        key = re.sub(r"\[\d+\]", "", key)  # thresholds[2] -> thresholds (items of one array share its line)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None


class _Collector:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.locator = _Locator(text)
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.locator.line(key), key, message))

    def convert(self, key: str, spec: Param, value: Any) -> Any:
        try:
            return spec.convert(value)
        except ParamError as e:
            self.add(key + e.at, str(e))
        except (ValueError, TypeError, OverflowError):  # a converter's bug, still one line about this key
            self.add(key, f"invalid value {p.shown(value)}")
        return spec.default

    def table(self, prefix: str, data: Mapping[str, Any], schema: Mapping[str, Param],
              skip: tuple[str, ...] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {}
        known = sorted(set(schema) | set(skip))
        for key, value in data.items():
            if key in skip:
                continue
            path = f"{prefix}.{key}" if prefix else key
            if key not in schema:
                self.add(path, "unknown key" + _hint(key, known))
                continue
            out[key] = self.convert(path, schema[key], value)
        for key, spec in schema.items():
            if key not in data:
                if spec.required:
                    self.add(f"{prefix}.{key}" if prefix else key, "missing required key")
                out[key] = spec.default
        return out


def parse(text: str, file: str = "<profile>", *, base: Path | None = None) -> Profile:
    """Validate ``text`` and build a Profile; raises ProfileError listing every problem."""
    try:
        data = tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per level of nested arrays and inline tables
        raise ProfileError([Problem(file, None, "", "nested too deeply")]) from None
    except tomllib.TOMLDecodeError as e:
        # Python < 3.14 has no e.lineno: the position is only in the message, "... (at line 3, column 7)"
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line = getattr(e, "lineno", None) or (int(m.group(1)) if m else None)
        msg = str(e).split(" (at ")[0]
        where = f" (column {m.group(2)})" if m else ""
        raise ProfileError([Problem(file, line, "", f"not valid TOML: {msg}{where}")]) from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits (sys.set_int_max_str_digits)
        raise ProfileError([Problem(file, None, "", f"not valid TOML: {str(e).split(':')[0]}")]) from None
    c = _Collector(file, text)
    deep = _too_deep(data)
    if deep is not None:
        c.add(deep, f"nested too deeply (more than {MAX_DEPTH} levels of tables and arrays)")
        raise ProfileError(c.problems)
    for key in ("target", "test", *EXTRA_TABLES):
        if key in data and not isinstance(data[key], dict):
            c.add(key, p.fail(f"a [{key}] table", data[key]).args[0])
    top = c.table("", {k: v for k, v in data.items()
                       if not isinstance(v, dict) and k not in ("target", "test", *EXTRA_TABLES)}, TOP_LEVEL)
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for key in tables:
        if key not in ("target", "test") and key not in EXTRA_TABLES and key not in TOP_LEVEL:
            c.add(key, "unknown table" + _hint(key, ["target", "test", *EXTRA_TABLES]))
    for key in TOP_LEVEL:
        if key in tables:
            c.add(key, p.fail("a value, not a table", tables[key]).args[0])
    name = top.get("name") or Path(file).stem
    if "name" not in data:
        top["name"] = name

    test_data = tables.get("test")
    tt = None
    if test_data is None:
        if "test" not in data:
            c.add("test", 'missing [test] table with a "type"')
        test_params: dict[str, Any] = {}
    else:
        ttype = test_data.get("type")
        tt = testtypes.get(ttype) if isinstance(ttype, str) else None
        if "type" not in test_data:
            c.add("test.type", "missing required key (one of " + ", ".join(testtypes.TEST_TYPES) + ")")
            test_params = {}
        elif tt is None:
            hint = _hint(ttype, list(testtypes.TEST_TYPES)) if isinstance(ttype, str) else ""
            c.add("test.type", f"unknown test type {p.shown([ttype])[1:-1]}" + hint)  # quoted as in a list
            test_params = {}
        else:
            test_params = c.table("test", test_data, tt.params, skip=("type",))

    target = _target(c, tables.get("target") if "target" in tables else data.get("target"), tt, base)
    extra = {k: c.table(k, tables[k], EXTRA_TABLES[k]) for k in tables if k in EXTRA_TABLES}

    for i, expr in enumerate(top.get("thresholds") or []):
        problem = _check_threshold(expr, tt)
        if problem:
            c.add(f"thresholds[{i}]", problem)

    if c.problems or tt is None or target is None:
        raise ProfileError(c.problems or [Problem(file, None, "", "invalid profile")])
    return Profile(
        name=top["name"],
        description=top.get("description") or "",
        target=target,
        test=TestSpec(type=tt.name, params=test_params),
        thresholds=tuple(top.get("thresholds") or ()),
        timeout=top.get("timeout"),
        # counts are deterministic: the instructions gate defaults to a 0.5 % effect (core/counts.py)
        tolerance=(top.get("tolerance", 0.05) if "tolerance" in data or test_params.get("measure") != "instructions"
                   else counts.TOLERANCE),
        monitor_hz=top.get("monitor_hz") or 10.0,
        log_limit=top.get("log_limit") or 4 << 20,
        secrets=tuple(top.get("secrets") or ()) + _option_secrets(target),
        path=file,
        text=text,
        extra=extra,
    )


def _too_deep(data: Any) -> str | None:
    """The key path of the first value nested more than MAX_DEPTH tables and arrays deep, or None.
    Iterative, so the check itself cannot hit the recursion limit."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            return path
        if isinstance(value, dict):
            stack.extend((v, depth + 1, f"{path}.{k}" if path else str(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, f"{path}[{i}]") for i, v in enumerate(value))
    return None


def _option_secrets(target: Target) -> tuple[str, ...]:
    """Environment variables a target option names as holding a secret (``auth_env``, ``dsn_env``): always
    redacted, listed in ``secrets`` or not."""
    names = (target.options.get(key) for key in ("auth_env", "dsn_env"))
    return tuple(n for n in names if isinstance(n, str) and n)


def _check_threshold(expr: str, tt: testtypes.TestType | None) -> str | None:
    """Ask core.thresholds (when present) whether ``expr`` is valid for this test type."""
    if importlib.util.find_spec("perflab.core.thresholds") is None:
        return None
    from perflab.core import thresholds

    check = getattr(thresholds, "check", None)
    return check(expr, tt) if check else None


def _target(c: _Collector, data: Any, tt: testtypes.TestType | None, base: Path | None) -> Target | None:
    if not isinstance(data, dict):
        if data is None:
            c.add("target", "missing [target] table")
        return None
    kinds = [k for k in data if k in TARGET_KINDS]
    if not kinds:
        wanted = tt.target_kinds if tt else TARGET_KINDS
        unknown = [k for k in data if tt is None or k not in tt.target_options]
        hint = _hint(unknown[0], list(TARGET_KINDS)) if unknown else ""
        c.add("target", "needs one of " + ", ".join(wanted) + hint)
        return None
    if len(kinds) > 1:
        c.add(f"target.{kinds[1]}", f"a target has one kind; found {', '.join(kinds)}")
        return None
    kind = kinds[0]
    value = c.convert(f"target.{kind}", Param(KIND_CONVERT[kind]), data[kind])
    if tt is not None and kind not in tt.target_kinds:
        c.add(f"target.{kind}", f"the {tt.name} test type takes a {' or '.join(tt.target_kinds)} target")
        return None
    schema = dict(tt.target_options) if tt else {}
    if kind in ARGV_KINDS and "args" in schema:
        schema["args"] = testtypes.PROCESS_OPTIONS["args"]
    options = c.table("target", {k: v for k, v in data.items() if k != kind}, schema)
    if value is None:
        return None
    value = _target_tables(c, kind, value)
    root = base or Path.cwd()
    if kind in PATH_KINDS and isinstance(value, str):
        path = Path(value) if os.path.isabs(value) else root / value
        try:
            found = path.exists()
        except (OSError, ValueError) as e:  # a name too long for the file system, a NUL byte
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            c.add(f"target.{kind}", f"{p.shown(value)}: not a usable path ({why})")
        else:
            if not found:
                c.add(f"target.{kind}", f"{value}: no such file or directory")
    if kind == "callable":
        _check_importable(c, "target.callable", value, _search_root(root, options))
    for key in ("input",):
        if isinstance(options.get(key), str):
            _check_importable(c, f"target.{key}", options[key], _search_root(root, options))
    return Target(kind=kind, value=value, options=options)


def _target_tables(c: _Collector, kind: str, value: Any) -> Any:
    """Validate the tables inside an endpoints or sql target against testtypes.ENDPOINT or STATEMENT; each
    entry keeps only the keys it was given (the runners fill in the defaults)."""
    schema = {"endpoints": testtypes.ENDPOINT, "sql": testtypes.STATEMENT}.get(kind)
    if schema is None or not isinstance(value, list):
        return value
    out: list[Any] = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            checked = c.table(f"target.{kind}[{i}]", item, schema)
            item = {k: checked[k] for k in item if k in checked}
        out.append(item)
    return out


def _search_root(root: Path, options: Mapping[str, Any]) -> Path:
    cwd = options.get("cwd")
    return (root / cwd) if isinstance(cwd, str) else root


def _check_importable(c: _Collector, key: str, ref: str, root: Path) -> None:
    """Look the module up where the child will: the project folder first, as the runners put it on
    PYTHONPATH (the installed ``perflab`` script does not have the working folder on sys.path)."""
    import sys

    module = ref.partition(":")[0]
    added = str(root.resolve()) not in sys.path and str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    except (Exception, SystemExit) as e:  # finding a submodule imports its package: the user's code runs
        c.add(key, f"cannot import module {module!r}: importing it raised {type(e).__name__}: {e}")
        return
    finally:
        if added:
            sys.path.remove(str(root))
    if not found:
        c.add(key, f"cannot import module {module!r}")


def load(path: str | os.PathLike[str], *, base: Path | None = None) -> Profile:
    """Read and validate one profile file."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PerflabError(f"{file}: no such profile file") from None
    except IsADirectoryError:
        raise PerflabError(f"{file}: is a directory, not a profile file") from None
    except PermissionError:
        raise PerflabError(f"{file}: permission denied") from None
    except UnicodeDecodeError:
        raise PerflabError(f"{file}: not a UTF-8 text file") from None
    return parse(text, file, base=base)


def discover(path: str | os.PathLike[str]) -> list[Path]:
    """A profile file, or the *.toml files of a folder in name order."""
    pth = Path(path)
    if pth.is_dir():
        files = sorted(pth.glob("*.toml"))
        if not files:
            raise PerflabError(f"{pth}: no *.toml profiles in this folder")
        return files
    if not pth.exists():
        raise PerflabError(f"{pth}: no such profile file or folder")
    return [pth]


def load_all(paths: list[str]) -> list[Profile]:
    """Load every profile named (files or folders); raise one ProfileError listing all problems."""
    profiles: list[Profile] = []
    problems: list[Problem] = []
    for arg in paths:
        for f in discover(arg):
            try:
                profiles.append(load(f))
            except ProfileError as e:
                problems.extend(e.problems)
    if problems:
        raise ProfileError(problems)
    return profiles
