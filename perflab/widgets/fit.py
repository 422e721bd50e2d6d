"""Text that fits a terminal: names shortened in the middle (both ends stay readable: the module and the function,
the benchmark and its size), values written the way a profile writes them, and tables whose value columns are
never cut (only the first, naming column gives up room, shortened in the middle).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

ELLIPSIS = "…"


def middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, the middle replaced by an ellipsis (the ends are kept, the end a little
    more: the function, the size, the file's line)."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    head = keep // 2
    tail = keep - head
    return text[:head] + ELLIPSIS + text[len(text) - tail:]


def toml_value(v: Any) -> str:
    """A value as inline TOML, the way it is written in a profile (``{ method = "GET", path = "/fast" }``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    if isinstance(v, Sequence) and not isinstance(v, str):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def _key(k: object) -> str:
    s = str(k)
    return s if s.replace("_", "").replace("-", "").isalnum() else json.dumps(s)


NAME_MIN = 16  # the naming column is not squeezed below this; the value columns are split over tables instead


def fitted_tables(title: str, columns: Sequence[str], rows: Sequence[Sequence[Text]], width: int) -> list[Table]:
    """The table in at most ``width`` cells, as one table or, when its value columns do not fit beside the names,
    several stacked tables that each repeat the naming column (the first). Value columns (verdicts, durations,
    sizes) are as wide as their widest cell and never cut; names are shortened in the middle to what is left."""
    widths = [max([cell_len(c)] + [cell_len(r[i].plain) for r in rows if i < len(r)]) for i, c in enumerate(columns)]
    name_min = min(widths[0], NAME_MIN)

    def frame(n_values: int) -> int:  # a rich box table: "│ " + " │ " between columns + " │"
        return 3 * (n_values + 1) + 1

    chunks: list[list[int]] = [[]]
    for i in range(1, len(columns)):
        chunk = chunks[-1]
        if chunk and name_min + frame(len(chunk) + 1) + sum(widths[j] for j in (*chunk, i)) > width:
            chunks.append([])
        chunks[-1].append(i)
    tables = []
    for n, chunk in enumerate(chunks):
        room = max(name_min, min(widths[0], width - frame(len(chunk)) - sum(widths[j] for j in chunk)))
        table = Table(title=title if n == 0 else "(continued)", title_justify="left", header_style="bold")
        table.add_column(middle(columns[0], room), justify="left", no_wrap=True, min_width=room, max_width=room)
        for j in chunk:
            table.add_column(columns[j], justify="right", no_wrap=True, min_width=widths[j])
        for r in rows:
            first = r[0] if cell_len(r[0].plain) <= room else Text(middle(r[0].plain, room), style=r[0].style)
            table.add_row(first, *(r[j] if j < len(r) else Text("") for j in chunk))
        tables.append(table)
    return tables
