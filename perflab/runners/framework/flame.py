"""Folded stacks (py-spy's ``raw`` format) -> top-functions rows, speedscope JSON and a flamegraph SVG.

A folded line is ``frame;frame;...;leaf COUNT`` with frames ``function (file:line)``, root first. perflab
merges consecutive py-spy windows as folded counts, so one merged profile feeds the live table and every
artifact. Shares are ratios of samples (1.0 = 100 %).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path

Stack = tuple[str, ...]
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*):(?P<line>\d+)\)$")


def parse_folded(text: str) -> Counter[Stack]:
    """Count per stack; malformed lines are skipped (a window cut short may end mid-line)."""
    out: Counter[Stack] = Counter()
    for raw in text.splitlines():
        stack, _, count = raw.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        out[tuple(stack.split(";"))] += int(count)
    return out


_GARBLED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def drop_garbled(stacks: Counter[Stack]) -> tuple[Counter[Stack], int]:
    """Stacks without control characters or U+FFFD in any frame, and how many samples were dropped.

    py-spy ``--nonblocking`` reads the target's memory while it runs; a sample read while a frame changes can
    come out with NULs or undecodable bytes in a name. Such a sample is wrong, not merely unreadable: drop it.
    """
    clean: Counter[Stack] = Counter()
    dropped = 0
    for stack, n in stacks.items():
        if any(_GARBLED.search(frame) for frame in stack):
            dropped += n
        else:
            clean[stack] += n
    return clean, dropped


def xml_text(s: str) -> str:
    """Escaped for XML, with the characters XML 1.0 forbids (most control characters) as U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", s))


def split_frame(frame: str) -> tuple[str, str, int]:
    """``func (file:line)`` -> (func, file, line); frames without a location give ("frame", "", 0)."""
    m = _FRAME.match(frame)
    if not m:
        return frame, "", 0
    return m.group("func"), m.group("file"), int(m.group("line"))


@dataclass(frozen=True)
class FunctionShare:
    function: str
    file: str
    line: int  # the function's most sampled line
    own: float  # ratio of samples with this function as the leaf
    total: float  # ratio of samples with this function anywhere on the stack
    samples: int  # own samples

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else ""


def top_functions(stacks: Counter[Stack], limit: int = 15) -> list[FunctionShare]:
    """Functions by own share, then total share (a function is identified by name and file)."""
    n = sum(stacks.values())
    if not n:
        return []
    own: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    lines: dict[tuple[str, str], Counter[int]] = {}
    for stack, count in stacks.items():
        seen = set()
        for i, frame in enumerate(stack):
            func, file, line = split_frame(frame)
            key = (func, file)
            lines.setdefault(key, Counter())[line] += count if i == len(stack) - 1 else 0
            if key not in seen:  # recursion counts once per sample
                seen.add(key)
                total[key] += count
        leaf = split_frame(stack[-1])
        own[(leaf[0], leaf[1])] += count
    keys = sorted(total, key=lambda k: (-own[k], -total[k], k))[:limit]
    out = []
    for k in keys:
        best = lines[k].most_common(1)[0][0] if lines[k] and lines[k].most_common(1)[0][1] else min(lines[k])
        out.append(FunctionShare(k[0], k[1], best, own[k] / n, total[k] / n, own[k]))
    return out


def write_folded(stacks: Counter[Stack], path: Path) -> None:
    path.write_text("".join(f"{';'.join(s)} {c}\n" for s, c in sorted(stacks.items())), encoding="utf-8")


def write_speedscope(stacks: Counter[Stack], path: Path, name: str) -> None:
    """speedscope's sampled-profile file format (https://www.speedscope.app/file-format-schema.json)."""
    index: dict[str, int] = {}
    frames: list[dict[str, object]] = []
    samples: list[list[int]] = []
    weights: list[int] = []
    for stack, count in sorted(stacks.items()):
        ids = []
        for frame in stack:
            if frame not in index:
                func, file, line = split_frame(frame)
                index[frame] = len(frames)
                frames.append({"name": func, "file": file, "line": line} if file else {"name": func})
            ids.append(index[frame])
        samples.append(ids)
        weights.append(count)
    total = sum(weights)
    doc = {
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "shared": {"frames": frames},
        "profiles": [{"type": "sampled", "name": name, "unit": "none", "startValue": 0, "endValue": total,
                      "samples": samples, "weights": weights}],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "perflab (from py-spy raw samples)",
    }
    path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")


@dataclass
class _Node:
    name: str
    count: int = 0
    children: dict[str, _Node] | None = None


def _tree(stacks: Iterable[tuple[Stack, int]]) -> _Node:
    root = _Node("all")
    for stack, count in stacks:
        node = root
        node.count += count
        for frame in stack:
            if node.children is None:
                node.children = {}
            node = node.children.setdefault(frame, _Node(frame))
            node.count += count
    return root


def write_svg(stacks: Counter[Stack], path: Path, title: str, width: int = 1200, row: int = 16) -> None:
    """A static flamegraph (root at the bottom, widths proportional to samples; hover shows the share)."""
    root = _tree(sorted(stacks.items()))
    total = max(root.count, 1)
    rects: list[str] = []
    depth_max = 0

    def place(node: _Node, x: float, depth: int) -> None:
        nonlocal depth_max
        w = node.count / total * (width - 20)
        if w < 0.3:  # invisible: skip it and its children
            return
        depth_max = max(depth_max, depth)
        rects.append(_rect(node, x, depth, w, total))
        cx = x
        for child in sorted((node.children or {}).values(), key=lambda c: c.name):
            place(child, cx, depth + 1)
            cx += child.count / total * (width - 20)

    place(root, 10.0, 0)
    height = (depth_max + 1) * row + 50
    body = "".join(rects)
    # y is laid out from the bottom: substitute now that the depth is known
    body = re.sub(r'data-depth="(\d+)" y="0"',
                  lambda m: f'y="{height - 20 - (int(m.group(1)) + 1) * row}"', body)
    body = re.sub(r'data-depth="(\d+)" ty="0"',
                  lambda m: f'y="{height - 20 - (int(m.group(1)) + 1) * row + 11}"', body)
    svg = (f'<?xml version="1.0" standalone="no"?>\n<svg version="1.1" width="{width}" height="{height}" '
           f'xmlns="http://www.w3.org/2000/svg" font-family="Verdana, sans-serif" font-size="11">\n'
           f'<rect width="100%" height="100%" fill="#f8f8f8"/>\n'
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">{xml_text(title)}</text>\n'
           f"{body}</svg>\n")
    path.write_text(svg, encoding="utf-8")


def _rect(node: _Node, x: float, depth: int, w: float, total: int) -> str:
    func, file, line = split_frame(node.name)
    share = node.count / total
    label = f"{func} ({file}:{line})" if file else func
    # warm colours, stable per function name so the same function looks the same everywhere
    h = sum(map(ord, func)) % 60
    fill = f"rgb({205 + h % 50},{80 + h * 2},{40 + h % 30})"
    text = xml_text(func) if w > 7 * len(func) else (xml_text(func[: int(w / 7) - 2]) + ".." if w > 35 else "")
    return (f'<g><title>{xml_text(label)}: {node.count} samples, {share * 100:.1f} %</title>'
            f'<rect x="{x:.1f}" data-depth="{depth}" y="0" width="{w:.1f}" height="15" fill="{fill}" rx="2"/>'
            f'<text x="{x + 3:.1f}" data-depth="{depth}" ty="0">{text}</text></g>\n')
