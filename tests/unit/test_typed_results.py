"""Typed results: table cells with units and notes with a level and a kind, stored, decoded (also in the format
that stored strings for both) and turned into text only by report/ and the UI."""

from __future__ import annotations

import ast
import io
import json
import math
from pathlib import Path

from rich.console import Console

from perflab.core import codec
from perflab.core.engine import apply_thresholds
from perflab.core.model import Level, Metric, Note, Quantity, Result, Status, SummaryTable
from perflab.report import documents, markdown, values
from perflab.report.console import print_result, rich_table
from perflab.store.sessions import SessionStore
from tests.conftest import REPO

CELLS = ("name[n=10]", 1234567, 0.123456, Quantity(0.0042, "s"), Quantity(1000 * 1024.0, "B"),
         Quantity(0.25, "%"), None)
TYPED = Result(Status.FAILED, "regression",
               metrics=(Metric("median", 0.0042, "s"),),
               tables=(SummaryTable("t", ("a", "b", "c", "d", "e", "f", "g"), (CELLS,)),),
               notes=(Note("regression gate failed: 1 slower", Level.ERROR, "baseline.slower"),
                      Note("threshold ok: median < 5ms: median = 4.2 ms", Level.INFO, "threshold.ok"),
                      Note("a plain remark")))

# A result as sessions stored it before cells and notes were typed: every cell and note a string.
OLD = {
    "status": "failed", "message": "regression: 1 slower",
    "metrics": [{"name": "median", "value": 0.004, "unit": "s", "labels": {"benchmark": "a"}, "comparable": True}],
    "raw": {}, "data": {},
    "tables": [{"title": "demo: benchmarks (1 processes)", "columns": ["benchmark", "median", "rounds"],
                "rows": [["a", "4 ms", "1,234"]]}],
    "notes": ["regression gate failed: vs baseline demo: 1 slower",
              "regression gate passed: vs x: 1 unchanged",
              "unstable (not gated): a: one process only",
              "WARNING: the baseline was taken on another machine: cpu: A vs B",
              "not measured this time: median{benchmark=b}",
              "threshold breach: p95 < 2ms: p95 = 3 ms",
              "threshold ok: median < 5ms: median = 4 ms",
              "bottleneck (target): CPU-bound: cpu 0.98 cores",
              "hottest function: f (x.py:3) with 40.0 % of samples"],
}


def test_cells_and_notes_survive_the_json_round_trip() -> None:
    back = codec.result_from_dict(json.loads(json.dumps(codec.result_to_dict(TYPED))))
    assert back.tables == TYPED.tables and back.notes == TYPED.notes
    assert [type(c) for c in back.tables[0].rows[0]] == [type(c) for c in CELLS]


def test_a_nan_quantity_is_written_as_null_by_strict_writers_and_reads_back_as_nan() -> None:
    r = Result(Status.PASSED, tables=(SummaryTable("t", ("p95",), ((Quantity(math.nan, "s"),),)),))
    doc = json.loads(documents.dumps({"result": codec.result_to_dict(r)}))
    assert doc["result"]["tables"][0]["rows"] == [[{"value": None, "unit": "s"}]]
    (cell,) = codec.result_from_dict(doc["result"]).tables[0].rows[0]
    assert isinstance(cell, Quantity) and math.isnan(cell.value) and cell.unit == "s"
    assert values.cell(cell) == "-"


def test_the_old_format_loads_with_levels_recovered_from_the_wording() -> None:
    r = codec.result_from_dict(OLD)
    assert r.tables[0].rows == (("a", "4 ms", "1,234"),)  # old string cells are shown as they were
    assert [(n.level, n.kind) for n in r.notes] == [
        (Level.ERROR, "baseline.slower"), (Level.INFO, "baseline.passed"), (Level.WARNING, "baseline.unstable"),
        (Level.WARNING, "baseline.machine"), (Level.WARNING, "baseline.missing"),
        (Level.ERROR, "threshold.breach"), (Level.INFO, "threshold.ok"), (Level.INFO, "bottleneck"),
        (Level.INFO, "")]
    assert [n.text for n in r.notes] == OLD["notes"]
    # written again, it is in the new form
    assert codec.result_to_dict(r)["notes"][0] == {"text": OLD["notes"][0], "level": "error",
                                                   "kind": "baseline.slower"}


def test_an_old_stored_session_loads_and_prints(tmp_path: Path) -> None:
    from perflab.core import profiles

    profile = profiles.parse('name = "demo"\n[target]\ncallable = "perflab.demo.sorting:counting_sort"\n'
                             'input = "perflab.demo.sorting:random_ints"\n[test]\ntype = "benchmark"\n', "d.toml")
    with SessionStore(tmp_path) as st:
        sid = st.create_session(profile, machine={}, git=None)
        st.finish_session(sid, Result(Status.FAILED, "x"), 1, 1.0)
        # the row as an older perflab wrote it
        st.conn.execute("UPDATE sessions SET result = ? WHERE id = ?", (json.dumps(OLD), sid))
        st.conn.commit()
    with SessionStore(tmp_path, readonly=True) as st:
        row = st.get(sid)
    assert row.result is not None and row.result.notes[0].level == Level.ERROR
    out = Console(file=io.StringIO(), width=160, force_terminal=True, color_system="standard")
    print_result(out, "demo", row.result, sid, 1.0)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "4 ms" in text and "1,234" in text
    assert "\x1b[31m  regression gate failed" in text  # red, as the level recovered from the old wording
    doc = json.loads(documents.dumps(documents.show_document(row, tmp_path, [], [])))
    assert doc["session"]["result"]["notes"][5] == {"text": OLD["notes"][5], "level": "error",
                                                    "kind": "threshold.breach"}


def test_each_kind_of_cell_renders_once_the_same_way() -> None:
    assert values.row(CELLS) == ("name[n=10]", "1,234,567", "0.1235", "4.2 ms", "1000 KiB", "25.0 %", "-")
    assert values.cell(Quantity(1023 * 1024.0, "B")) == "1023 KiB"  # not "1e+03 KiB"
    assert values.cell(math.nan) == "-" and values.cell(Quantity(math.nan, "/s")) == "-"
    assert values.cell(Quantity(math.inf, "s")) == "∞" and values.cell(-math.inf) == "-∞"
    assert values.cell(Quantity(1.5, "ratio")) == "1.5x" and values.cell(Quantity(12345, "count")) == "12,345"
    assert values.cell(Quantity(2e4, "/s")) == "20 k/s" and values.cell(Quantity(3.0)) == "3"
    # the console, Markdown and the screens all call report.values
    console = Console(file=io.StringIO(), width=200)
    console.print(rich_table(TYPED.tables[0]))
    assert all(c in console.file.getvalue() for c in values.row(CELLS))  # type: ignore[attr-defined]
    md = markdown.table(TYPED.tables[0])
    assert md.splitlines()[-1] == "| name[n=10] | 1,234,567 | 0.1235 | 4.2 ms | 1000 KiB | 25.0 % | - |"


def test_notes_are_styled_by_level_and_kind_and_markdown_lists_threshold_notes() -> None:
    assert [values.note_style(n) for n in TYPED.notes] == ["red", "", ""]
    assert values.note_style(Note("x", Level.WARNING)) == "yellow"
    assert values.note_style(Note("regression gate passed: vs b", Level.INFO, "baseline.passed")) == "green"
    text = markdown.render([markdown.ProfileReport("p", "s1", TYPED, 1, 2.0)])
    assert "- threshold ok: median < 5ms" in text and "a plain remark" not in text


def test_thresholds_emit_a_notice_per_breach_only() -> None:
    from perflab.core import profiles

    profile = profiles.parse('name = "t"\nthresholds = ["median < 1ms", "median < 1s"]\n[target]\n'
                             'callable = "perflab.demo.sorting:counting_sort"\n'
                             'input = "perflab.demo.sorting:random_ints"\n[test]\ntype = "benchmark"\n', "t.toml")
    seen: list = []
    earlier = Note("threshold breach: from an earlier step", Level.ERROR, "threshold.breach")
    out = apply_thresholds(profile, Result(Status.PASSED, metrics=(Metric("median", 0.0042, "s"),),
                                           notes=(earlier,)), seen.append, lambda: 1.0)
    assert out.status == Status.FAILED
    assert [n.message for n in seen] == [n.text for n in out.notes if n.kind == "threshold.breach"][1:]
    assert len(seen) == 1 and seen[0].level == Level.ERROR and "median < 1ms" in seen[0].message


# ------------------------------------------------------------------ runners never format numbers for cells

FORMATTERS = {"duration", "size", "rate", "ratio", "percent", "value"}  # core.units' number-to-text functions


def _formats(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FORMATTERS
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "units")


def _cells(elt: ast.expr) -> list[ast.expr]:
    """What a tuple element may become: through ``*generator``, ``a if c else b`` and ``a + b``."""
    if isinstance(elt, ast.Starred):
        return _cells(elt.value)
    if isinstance(elt, ast.GeneratorExp | ast.ListComp):
        return _cells(elt.elt)
    if isinstance(elt, ast.IfExp):
        return _cells(elt.body) + _cells(elt.orelse)
    if isinstance(elt, ast.BinOp):
        return _cells(elt.left) + _cells(elt.right)
    return [elt]


def formatted_cells(source: str) -> list[str]:
    """Tuple elements (table rows are tuples; argv lists are lists) that are numbers made text: a core.units
    formatter call, or an f-string with a format spec (``{n:,}``, ``{r:.1%}``) or a formatter inside."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Tuple):
            continue
        for elt in node.elts:
            for c in _cells(elt):
                if _formats(c) or isinstance(c, ast.JoinedStr) and any(
                        isinstance(v, ast.FormattedValue)
                        and (v.format_spec is not None or any(_formats(x) for x in ast.walk(v.value)))
                        for v in c.values):
                    out.append(f"{c.lineno}: {ast.unparse(c)}")
    return out


def test_the_scan_finds_preformatted_cells() -> None:
    src = ("rows = [(name, units.size(b), f'{n:,}', f'{short_path(f)}:{line}', Quantity(b, 'B'))]\n"
           "rows.append((g, *(units.duration(d[k]) for k in ks), x if y else units.ratio(r)))\n"
           "notes.append(Note(f'peak {units.size(p)}'))\n")
    assert [x.partition(":")[0] for x in formatted_cells(src)] == ["1", "1", "2", "2"]


def test_no_runner_formats_numbers_for_table_cells() -> None:
    found = {str(p.relative_to(REPO)): formatted_cells(p.read_text(encoding="utf-8"))
             for p in sorted((REPO / "perflab" / "runners").rglob("*.py")) if "agents" not in p.parts}
    assert {k: v for k, v in found.items() if v} == {}


def test_every_note_kind_written_is_listed_in_the_note_docstring() -> None:
    kinds = set()
    for p in (REPO / "perflab").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Note":
                arg = node.args[2] if len(node.args) > 2 else next(
                    (k.value for k in node.keywords if k.arg == "kind"), None)
                if isinstance(arg, ast.Constant) and arg.value:
                    kinds.add(arg.value)
    assert len(kinds) > 20
    assert {k for k in kinds if f"``{k}``" not in (Note.__doc__ or "")} == set()
