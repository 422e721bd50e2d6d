"""The pytest configuration benchmarks need, merged into the project's own config without losing anything.

pytest reads the first of pytest.ini, pyproject.toml ([tool.pytest.ini_options]), tox.ini ([pytest]),
setup.cfg ([tool:pytest]) that has a pytest section; perflab edits that one (pyproject.toml through tomlkit,
which keeps comments and layout), or writes pytest.ini when there is none. Keys the user already set are
kept; only missing keys are added, and missing benchmark options are appended to an existing ``addopts``.
"""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from pathlib import Path

import tomlkit

from perflab.core.model import PerflabError
from perflab.scaffold.writer import Action, FileAction

# Warm-up on (at most 1,000 calls), at least 5 rounds, 0.25 s per benchmark: steady enough for a local run; perflab's profiles set
# their own values on the command line (later options win).
BENCH_OPTS = (
    "--benchmark-warmup=on",
    "--benchmark-min-rounds=5",
    "--benchmark-max-time=0.25",
    "--benchmark-warmup-iterations=1000",
    "--benchmark-sort=name",
    "--benchmark-columns=min,median,mean,stddev,rounds",
)


def _missing_opts(existing: list[str]) -> list[str]:
    have = {o.split("=")[0] for o in existing}
    return [o for o in BENCH_OPTS if o.split("=")[0] not in have]


def _ini_section(path: Path, section: str) -> bool:
    if not path.is_file():
        return False
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read(path, encoding="utf-8")
    except configparser.Error as e:
        raise PerflabError(f"{path}: cannot parse ({str(e).splitlines()[0]}); nothing written") from None
    return cp.has_section(section)


def plan(root: Path, pythonpath: str) -> FileAction:
    """One action: create pytest.ini, or edit the file pytest already reads its configuration from."""
    pyproject = root / "pyproject.toml"
    if _ini_section(root / "pytest.ini", "pytest") or (root / "pytest.ini").exists():
        return _plan_ini(root / "pytest.ini", "pytest", pythonpath)
    if pyproject.is_file():
        text = pyproject.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise PerflabError(f"{pyproject}: not valid TOML ({e}); nothing written") from None
        has_pytest = "ini_options" in data.get("tool", {}).get("pytest", {})
        if has_pytest or not (_ini_section(root / "tox.ini", "pytest")
                              or _ini_section(root / "setup.cfg", "tool:pytest")):
            return _plan_pyproject(pyproject, text, pythonpath)
    if _ini_section(root / "tox.ini", "pytest"):
        return _plan_ini(root / "tox.ini", "pytest", pythonpath)
    if _ini_section(root / "setup.cfg", "tool:pytest"):
        return _plan_ini(root / "setup.cfg", "tool:pytest", pythonpath)
    content = ("# Written by `perflab init`: pytest settings for the benchmarks in tests/performance.\n"
               "[pytest]\n"
               f"pythonpath = {pythonpath}\n"
               "addopts =\n" + "".join(f"    {o}\n" for o in BENCH_OPTS))
    return FileAction(root / "pytest.ini", content, Action.CREATE)


def _plan_pyproject(path: Path, text: str, pythonpath: str) -> FileAction:
    doc = tomlkit.parse(text)
    tool = doc.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        doc.append("tool", tool)
    pytest_t = tool.get("pytest")
    if pytest_t is None:
        pytest_t = tomlkit.table(is_super_table=True)
        tool.append("pytest", pytest_t)
    opts = pytest_t.get("ini_options")
    created = opts is None
    if opts is None:
        opts = tomlkit.table()
        opts.comment("benchmarks in tests/performance (added by perflab init)")
        pytest_t.append("ini_options", opts)
    added: list[str] = []
    if "pythonpath" not in opts:
        opts["pythonpath"] = [pythonpath]
        added.append("pythonpath")
    current = opts.get("addopts")
    if current is None:
        opts["addopts"] = " ".join(BENCH_OPTS)
        added.append("addopts")
    elif isinstance(current, str):
        missing = _missing_opts(shlex.split(current))
        if missing:
            opts["addopts"] = (str(current) + " " + " ".join(missing)).strip()
            added.append("benchmark options in addopts")
    elif isinstance(current, list):
        missing = _missing_opts([str(x) for x in current])
        for o in missing:
            current.append(o)
        if missing:
            added.append("benchmark options in addopts")
    new = tomlkit.dumps(doc)
    tomllib.loads(new)  # the edit must stay valid TOML; a failure here is a bug, not a user mistake
    if not added:
        return FileAction(path, text, Action.KEEP, "[tool.pytest.ini_options] already configured")
    where = "new [tool.pytest.ini_options]" if created else "[tool.pytest.ini_options]"
    return FileAction(path, new, Action.EDIT, f"{where}: add {', '.join(added)}")


def _plan_ini(path: Path, section: str, pythonpath: str) -> FileAction:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(text)
    except configparser.Error as e:
        raise PerflabError(f"{path}: cannot parse ({str(e).splitlines()[0]}); nothing written") from None
    if not cp.has_section(section):
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        body = (f"[{section}]\npythonpath = {pythonpath}\naddopts =\n"
                + "".join(f"    {o}\n" for o in BENCH_OPTS))
        return FileAction(path, text + sep + body, Action.EDIT if text else Action.CREATE, f"add [{section}]")
    lines = text.splitlines(keepends=True)
    header = next(i for i, x in enumerate(lines) if re.match(rf"^\s*\[{re.escape(section)}\]\s*$", x))
    insert: list[str] = []
    added: list[str] = []
    if not cp.has_option(section, "pythonpath"):
        insert.append(f"pythonpath = {pythonpath}\n")
        added.append("pythonpath")
    if not cp.has_option(section, "addopts"):
        insert.append("addopts =\n" + "".join(f"    {o}\n" for o in BENCH_OPTS))
        added.append("addopts")
    elif _missing_opts(shlex.split(cp.get(section, "addopts"))):
        # appending to a multi-line ini value safely is fiddly; say what to add instead of guessing
        added.append("(add to addopts yourself: " + " ".join(_missing_opts(shlex.split(cp.get(section, "addopts"))))
                     + ")")
    if not insert:
        return FileAction(path, text, Action.KEEP, "; ".join(added) or f"[{section}] already configured")
    new = "".join(lines[: header + 1] + insert + lines[header + 1:])
    return FileAction(path, new, Action.EDIT, f"[{section}]: add {', '.join(added)}")
