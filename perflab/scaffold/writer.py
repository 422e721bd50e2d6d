"""Apply a scaffold plan: check every file first, then write them all (or only list them with --dry-run).

A plan is a list of FileAction. Nothing is written when any file would overwrite an existing one without
--force, or when a folder cannot be written: the user gets one line, exit 2, and an untouched project.
Each file is written atomically (temp file in the same folder, fsync, rename), so an interrupted run never
leaves a half-written pyproject.toml behind.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from perflab.core.model import PerflabError


class Action(StrEnum):
    CREATE = "create"
    OVERWRITE = "overwrite"
    EDIT = "edit"  # a merge into an existing file (pyproject.toml): never loses the user's keys
    KEEP = "keep"  # an existing file that already has what we need


@dataclass(frozen=True)
class FileAction:
    path: Path  # absolute
    content: str
    action: Action
    note: str = ""  # shown next to the path, e.g. "[tool.pytest.ini_options]: add pythonpath"


def plan_file(root: Path, rel: str, content: str, *, force: bool) -> FileAction:
    """A generated file: create it, or overwrite it when --force is given (checked in ``apply``)."""
    path = root / rel
    if path.exists():
        if path.is_file() and path.read_text(encoding="utf-8", errors="replace") == content:
            return FileAction(path, content, Action.KEEP, "unchanged")
        return FileAction(path, content, Action.OVERWRITE if force else Action.CREATE)
    return FileAction(path, content, Action.CREATE)


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check(actions: Sequence[FileAction], root: Path) -> None:
    """Raise PerflabError (exit 2) for the first reason the plan cannot be written as a whole."""
    conflicts = [a for a in actions if a.action == Action.CREATE and a.path.exists()]
    if conflicts:
        names = ", ".join(_rel(a.path, root) for a in conflicts)
        raise PerflabError(f"{names}: already exists; nothing written (use --force to overwrite)")
    for a in actions:
        if a.action == Action.KEEP:
            continue
        if a.path.exists() and a.path.is_dir():
            raise PerflabError(f"{_rel(a.path, root)}: is a directory; nothing written")
        base = _first_existing(a.path.parent)
        if not base.is_dir():
            raise PerflabError(f"{_rel(base, root)}: is not a directory; nothing written")
        if not os.access(base, os.W_OK | os.X_OK):
            raise PerflabError(f"{base}: directory is not writable (permission denied); nothing written")


def apply(actions: Sequence[FileAction], root: Path, *, dry_run: bool) -> list[str]:
    """Check the plan, then write it (unless ``dry_run``); returns one display line per file."""
    check(actions, root)
    lines = []
    for a in actions:
        verb = "would " + a.action.value if dry_run and a.action != Action.KEEP else a.action.value
        if a.action == Action.KEEP:
            verb = "keep"
        lines.append(f"{verb:>15}  {_rel(a.path, root)}" + (f"  ({a.note})" if a.note else ""))
        if not dry_run and a.action != Action.KEEP:
            write_atomic(a.path, a.content, root)
    return lines


def write_atomic(path: Path, content: str, root: Path) -> None:
    """Write ``content`` to ``path`` via a temp file and rename; errors become one PerflabError line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o777 if path.exists() else None
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode if mode is not None else 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        # The pre-check catches the usual cases; this covers read-only mounts, immutable folders, a full disk.
        why = "permission denied" if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else e.strerror
        raise PerflabError(f"{path.parent}: cannot write {path.name} ({why})") from None


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
