"""Secrets never leave the process: the one redaction every output goes through.

A secret is the value of an environment variable that a profile names (``secrets = [...]``, and target options
such as ``auth_env`` or ``dsn_env``). :func:`register` adds the values for this process when a profile is
loaded; every exit point (the session store, the console, ``--json``, ``--junit``, ``--markdown``, the GitHub
step summary, log files, text artifacts) passes its text or data through :func:`text` / :func:`data` /
:func:`result`, which put ``***`` in place of each secret.

A value is hidden in every form it can take on its way out:
- as given, JSON-escaped (a quote or backslash in it), percent-encoded and percent-decoded;
- for a URL or DSN (``scheme://user:password@host/...``): the password as written (percent-encoded) and
  decoded, and the user-info ``user:password``; a driver's error message often quotes the password alone,
  e.g. psycopg's ``invalid percent-encoded token: "S3cr%zzet-pw"``;
- for a keyword DSN (``host=... password=...``): the password value.
The user name alone is not hidden (``postgres`` would blank out ``postgresql://``).
Longer forms are replaced first, so a form that contains another is hidden whole.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def variants(value: str) -> set[str]:
    """Every form of ``value`` that must be hidden (see the module docstring); empty for an empty value."""
    if not value:
        return set()
    out = {value, json.dumps(value)[1:-1], quote(value, safe=""), unquote(value)}
    if "://" in value:
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            password = None
            parts = None
        if parts is not None and "@" in parts.netloc:
            userinfo = parts.netloc.rsplit("@", 1)[0]
            if ":" in userinfo:  # user:password; a user name alone is not a secret
                out |= {userinfo, unquote(userinfo)}
        if password:
            out |= {password, unquote(password)}
    for m in _KEYWORD_PASSWORD.finditer(value):
        word = m.group(1).strip("'")
        out |= {word, word.replace("\\'", "'")}
    for form in list(out):
        out.add(json.dumps(form)[1:-1])
    return {v for v in out if v}


class Redactor:
    """Replaces registered secrets in text and in nested data (dicts, lists, tuples of strings)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()
        self._pattern: re.Pattern[str] | None = None
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        new: set[str] = set()
        for v in values:
            new |= variants(v or "")
        with self._lock:
            forms = set(self._forms) | new
            self._forms = tuple(sorted(forms, key=lambda s: (-len(s), s)))
            self._pattern = re.compile("|".join(map(re.escape, self._forms))) if self._forms else None

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, s: str) -> str:
        pattern = self._pattern
        if pattern is None or not s:
            return s
        return pattern.sub(MASK, s)

    def data(self, obj: Any) -> Any:
        """A copy of ``obj`` with secrets replaced in every string, dict key and value, list and tuple item."""
        if self._pattern is None:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.data(k): self.data(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.data(x) for x in obj]
        if isinstance(obj, tuple):
            return tuple(self.data(x) for x in obj)
        return obj


# The process-wide registry: what any profile of this process declared secret.
REGISTRY = Redactor()


def register(values: Iterable[str]) -> None:
    REGISTRY.add(values)


def register_env(names: Iterable[str], environ: dict[str, str] | None = None) -> None:
    """Register the values of the environment variables ``names`` (unset ones are skipped)."""
    import os

    env = os.environ if environ is None else environ
    register(env.get(n, "") for n in names)


def text(s: str) -> str:
    return REGISTRY.text(s)


def data(obj: Any) -> Any:
    return REGISTRY.data(obj)


def result(r: Any) -> Any:
    """A Result with every string in it redacted (round trip through the codec; numbers are untouched)."""
    if not REGISTRY:
        return r
    from perflab.core.codec import result_from_dict, result_to_dict

    return result_from_dict(REGISTRY.data(result_to_dict(r)))


def event(e: Any) -> Any:
    """An event with its text redacted: log lines, messages, details, table cells, labels, artifact paths."""
    if not REGISTRY:
        return e
    from perflab.core.codec import event_from_dict, event_to_dict
    from perflab.core.model import Sample

    if isinstance(e, Sample):  # the hot path: only labels can hold text
        if not e.labels:
            return e
        labels = tuple((k, REGISTRY.text(v)) for k, v in e.labels)
        return e if labels == e.labels else Sample(e.t, e.series, e.value, labels)
    return event_from_dict(REGISTRY.data(event_to_dict(e)))


TEXT_LIMIT = 256 << 20  # bytes: larger artifacts are not text reports


def redact_tree(folder: Any) -> list[str]:
    """Rewrite every text file under ``folder`` that holds a secret (atomically: a temporary file renamed
    over it); returns the paths changed. Binary files (not UTF-8, e.g. a memray capture) are left alone."""
    import os
    from pathlib import Path

    changed: list[str] = []
    if not REGISTRY or not Path(folder).is_dir():
        return changed
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.is_symlink() or path.stat().st_size > TEXT_LIMIT:
            continue
        try:
            original = path.read_bytes().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        hidden = REGISTRY.text(original)
        if hidden != original:
            tmp = path.with_name(path.name + ".redacting")
            tmp.write_text(hidden, encoding="utf-8")
            os.replace(tmp, path)
            changed.append(str(path))
    return changed
