"""``module:function`` names defined in a working folder, for completing callable references in a form.

Files are parsed (``ast``), never imported: listing names runs no user code. The walk is bounded (hidden folders,
virtualenvs, caches and site-packages are skipped; at most ``max_files`` files) so a large folder cannot stall
the caller, which should run it in a thread anyway.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

SKIP = {"__pycache__", "node_modules", "site-packages", "build", "dist", ".git", ".venv", "venv", "env"}


def module_name(path: Path, root: Path) -> str | None:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def callable_names(root: Path, *, max_files: int = 2000) -> list[str]:
    """Sorted ``module:function`` names of the top-level functions (not starting with ``_``) under ``root``."""
    out: set[str] = set()
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP and d.isidentifier())
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            seen += 1
            if seen > max_files:
                return sorted(out)
            path = Path(folder) / f
            module = module_name(path, root)
            if module is None:
                continue
            try:
                tree = ast.parse(path.read_bytes(), filename=str(path))
            except (SyntaxError, ValueError, OSError):
                continue
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                    out.add(f"{module}:{node.name}")
    return sorted(out)
