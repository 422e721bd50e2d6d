"""Small helpers that write Python source the way ruff's formatter and isort rules want it.

Generated files must pass ``ruff format --check`` and ``ruff check`` (E, F, I, B, UP) unchanged, so imports
are grouped (standard library, third party, first party) and sorted as isort does, long lines are wrapped the
way the formatter would, and variable-length collections are always written one item per line with a
trailing comma (the formatter keeps those as they are).
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

LINE = 88  # ruff's default line length: the user's project may not configure one


def classify(module: str, root: Path) -> int:
    """0 standard library, 1 third party, 2 first party (found in the project folder or src/)."""
    top = module.partition(".")[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return 0
    for base in (root, root / "src"):
        if (base / top).is_dir() or (base / f"{top}.py").is_file():
            return 2
    return 1


def _member_key(name: str) -> tuple[int, str]:
    """isort's order-by-type: CONSTANTS, then Classes, then functions and variables."""
    plain = name.split(" as ")[0]
    if plain.isupper() and len(plain) > 1:
        return (0, plain)
    if plain[:1].isupper():
        return (1, plain)
    return (2, plain)


@dataclass
class Imports:
    root: Path
    plain: set[str] = field(default_factory=set)  # import x
    members: dict[str, set[str]] = field(default_factory=dict)  # from x import a, b as c

    def add(self, module: str, name: str | None = None, alias: str | None = None) -> None:
        if module == "builtins" and name is not None:
            return  # builtins need no import
        if name is None:
            self.plain.add(module)
        else:
            self.members.setdefault(module, set()).add(f"{name} as {alias}" if alias and alias != name else name)

    def render(self) -> str:
        sections: list[list[str]] = [[], [], []]
        for mod in sorted(self.plain, key=str.lower):
            sections[classify(mod, self.root)].append(f"import {mod}")
        for mod in sorted(self.members, key=str.lower):
            names = sorted(self.members[mod], key=_member_key)
            line = f"from {mod} import {', '.join(names)}"
            if len(line) > LINE:
                line = f"from {mod} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
            sections[classify(mod, self.root)].append(line)
        # isort puts "import x" lines before "from x import" lines within each section (ruff's default)
        return "\n\n".join("\n".join(s) for s in sections if s)


def docstring(text: str, indent: str = "") -> str:
    """A triple-quoted docstring wrapped to the line length; paragraphs separated by blank lines."""
    width = LINE - len(indent)
    paras = [p.strip("\n") for p in text.strip("\n").split("\n\n")]
    if len(paras) == 1 and len(indent) + 6 + len(paras[0]) <= LINE and "\n" not in paras[0]:
        return f'{indent}"""{paras[0]}"""'
    out: list[str] = []
    for i, p in enumerate(paras):
        if p.startswith("    ") or "\n" in p:  # preformatted block: keep its lines
            lines = [indent + x if x else "" for x in p.splitlines()]
        else:
            lines = textwrap.wrap(p, width=width - (3 if i == 0 else 0), break_long_words=False,
                                  break_on_hyphens=False)
            lines = [indent + x for x in lines]
        out.extend(lines)
        out.append("")
    out[0] = indent + '"""' + out[0][len(indent):]
    return "\n".join(out) + indent + '"""'


def string(value: str) -> str:
    """A Python string literal with double quotes (the formatter's preferred quote)."""
    return json.dumps(value, ensure_ascii=False)


def toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def block(items: Iterable[str], indent: str = "    ") -> str:
    """Items one per line with a trailing comma (stable under the formatter)."""
    return "".join(f"{indent}{x},\n" for x in items)


def return_tuple(items: list[str], indent: str = "    ") -> str:
    """``return (a,)`` on one line when it fits (the formatter joins one-item tuples), else one per line."""
    one = f"{indent}return ({items[0]},)" if len(items) == 1 else f"{indent}return ({', '.join(items)})"
    if len(one) <= LINE and "\n" not in one:
        return one + "\n"
    return f"{indent}return (\n" + block(items, indent + "    ") + f"{indent})\n"


def slug(name: str) -> str:
    """A file-name-safe lower-case slug: ``Parser.parse_all`` -> ``parser_parse_all``."""
    s = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()
    return s or "target"


def identifier(name: str) -> str:
    s = slug(name)
    return s if not s[0].isdigit() else f"t_{s}"


def int_literal(n: int) -> str:
    """10000 -> 10_000 (readable, and what people write by hand)."""
    return f"{n:_}" if n >= 10_000 else str(n)
