"""Guess a sized input for each required parameter of a target, from its annotation first, then its name.

Every guess is an expression of ``n`` (the size) and ``rng`` (a seeded ``random.Random``), so the generated
benchmark measures the same data in every process and run. A parameter nothing matches gets ``None``: the
renderer then writes a clearly marked TODO that raises until the user fills it in, rather than a guess that
would time the wrong thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from perflab.scaffold.target import Parameter


class InputKind(StrEnum):
    INTS = "ints"
    FLOATS = "floats"
    STRS = "strs"
    TEXT = "text"
    BYTES = "bytes"
    INT = "int"
    FLOAT = "float"
    DICT = "dict"


EXPRESSIONS: dict[InputKind, tuple[str, str]] = {  # kind -> (expression, type written in the hint)
    InputKind.INTS: ("[rng.randrange(n) for _ in range(n)]", "list[int]"),
    InputKind.FLOATS: ("[rng.random() for _ in range(n)]", "list[float]"),
    InputKind.STRS: ('[f"item-{rng.randrange(n)}" for _ in range(n)]', "list[str]"),
    InputKind.TEXT: ('"".join(rng.choices("abcdefghijklmnopqrstuvwxyz ", k=n))', "str"),
    InputKind.BYTES: ("rng.randbytes(n)", "bytes"),
    InputKind.INT: ("n", "int"),
    InputKind.FLOAT: ("float(n)", "float"),
    InputKind.DICT: ('{f"key{i}": rng.randrange(n) for i in range(n)}', "dict[str, int]"),
}

_CONTAINER = re.compile(r"^(typing\.|collections\.abc\.)?(list|List|Sequence|Iterable|Collection|MutableSequence|"
                        r"tuple|Tuple|set|Set|frozenset|AbstractSet|Iterator)\b")
_NAMES: dict[InputKind, frozenset[str]] = {
    InputKind.INTS: frozenset({"items", "values", "data", "xs", "ys", "numbers", "nums", "seq", "sequence", "arr",
                               "array", "lst", "iterable", "elements", "ints", "integers", "keys", "ids"}),
    InputKind.FLOATS: frozenset({"floats", "samples", "measurements", "weights", "prices"}),
    InputKind.STRS: frozenset({"words", "names", "strings", "lines", "tokens"}),
    InputKind.TEXT: frozenset({"text", "s", "string", "line", "content", "document", "doc", "source", "word",
                               "sentence", "body"}),
    InputKind.BYTES: frozenset({"payload", "blob", "buf", "buffer", "raw", "bytes_", "chunk"}),
    InputKind.INT: frozenset({"n", "size", "count", "k", "limit", "length", "num", "number", "depth", "i"}),
    InputKind.FLOAT: frozenset({"x", "value", "amount", "ratio", "rate"}),
    InputKind.DICT: frozenset({"mapping", "d", "dct", "table", "record", "row", "config", "obj", "counts"}),
}


def _from_annotation(ann: str) -> InputKind | None:
    a = ann.replace(" ", "").strip("'\"")
    if not a:
        return None
    if a in ("int",):
        return InputKind.INT
    if a in ("float", "int|float", "float|int"):
        return InputKind.FLOAT
    if a == "str":
        return InputKind.TEXT
    if a in ("bytes", "bytearray", "memoryview"):
        return InputKind.BYTES
    if re.match(r"^(typing\.)?(dict|Dict|Mapping|MutableMapping)\b", a):
        return InputKind.DICT
    m = _CONTAINER.match(a)
    if m:
        inner = a[m.end():]
        if "float" in inner:
            return InputKind.FLOATS
        if "str" in inner:
            return InputKind.STRS
        if inner in ("", "[int]", "[int,...]") or "int" in inner:
            return InputKind.INTS
    return None


def guess(param: Parameter) -> InputKind | None:
    """The input kind for one parameter, or None when neither its annotation nor its name says."""
    if param.kind in ("KEYWORD_ONLY", "VAR_POSITIONAL", "VAR_KEYWORD"):
        return None
    if param.annotation:
        return _from_annotation(param.annotation)  # an annotation we cannot read beats a lucky name
    name = param.name.lower()
    for kind, names in _NAMES.items():
        if name in names:
            return kind
    return None


@dataclass(frozen=True)
class InputPlan:
    """How the generated ``make_args(n)`` builds the positional arguments of one call."""

    kinds: tuple[InputKind | None, ...]  # one per required parameter; None = TODO
    names: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return all(k is not None for k in self.kinds)

    @property
    def sized(self) -> bool:
        return bool(self.kinds)

    @property
    def todo(self) -> tuple[str, ...]:
        return tuple(n for n, k in zip(self.names, self.kinds, strict=True) if k is None)


def plan(required: tuple[Parameter, ...]) -> InputPlan:
    return InputPlan(tuple(guess(p) for p in required), tuple(p.name for p in required))
