"""``perflab new benchmark module:function``: a pytest-benchmark test file and a profile that gates it.

The test measures the target (and any ``--compare`` callables) on the same seeded inputs at every size, in
one comparison group per size, and checks the result next to the timing: against the first comparison
callable when there is one (alternatives must agree), else against the return annotation, with a marked
TODO for the real check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perflab.scaffold import inputs, pycode
from perflab.scaffold.target import TargetInfo

_BUILTIN_TYPES = ("list", "dict", "set", "tuple", "str", "int", "float", "bytes", "bool", "frozenset")


@dataclass(frozen=True)
class BenchFiles:
    test_rel: str
    profile_rel: str
    test_source: str
    profile_source: str
    todo: tuple[str, ...]  # parameters perflab could not build an input for


def _local_names(infos: list[TargetInfo], imports: pycode.Imports) -> list[str]:
    """The expression that names each callable in the test module, adding the imports it needs."""
    used: set[str] = set()
    names = []
    for info in infos:
        head, _, rest = info.attr.partition(".")
        local = head
        if info.module != "builtins":
            i = 2
            while local in used or local in ("pytest", "random", "asyncio", "inspect", "benchmark"):
                local = f"{head}_{i}"
                i += 1
            imports.add(info.module, head, local)
        used.add(local)
        names.append(local + (f".{rest}" if rest else ""))
    return names


def _make_args(plan: inputs.InputPlan, info: TargetInfo, test_rel: str) -> tuple[str, bool]:
    """The source of ``make_args(n)`` and whether it uses ``random``."""
    items: list[str] = []
    uses_rng = False
    for name, kind in zip(plan.names, plan.kinds, strict=True):
        if kind is None:
            param = next(p for p in info.required if p.name == name)
            what = f"{name}: {param.annotation}" if param.annotation else name
            items.append(f"todo({pycode.string(what)})")
        else:
            expr = inputs.EXPRESSIONS[kind][0]
            uses_rng = uses_rng or "rng" in expr
            items.append(expr)
    if info.params is None:
        items = ['todo("the arguments (perflab found no signature)")']
    doc = ("The positional arguments of one call for size n; seeded, so every process and every run "
           "measures the same data.")
    lines = ["def make_args(n: int) -> tuple:", pycode.docstring(doc, "    ")]
    if uses_rng:
        lines.append("    rng = random.Random(n)")
    return "\n".join(lines) + "\n" + pycode.return_tuple(items), uses_rng


def render(target: TargetInfo, compares: list[TargetInfo], sizes: list[int], root: Path,
           name: str | None = None) -> BenchFiles:
    base = pycode.slug(name or target.name)
    func = pycode.identifier(name or target.name)
    test_rel = f"tests/performance/test_bench_{base}.py"
    profile_name = f"bench-{base.replace('_', '-')}"
    profile_rel = f"profiles/{profile_name}.toml"
    plan = inputs.plan(target.required) if target.params is not None else inputs.InputPlan((None,), ("args",))
    sized = plan.sized or target.params is None
    todo = plan.todo if target.params is not None else ("args",)

    imports = pycode.Imports(root)
    imports.add("pytest")
    infos = [target, *compares]
    locals_ = _local_names(infos, imports)
    any_async = any(i.is_async for i in infos)
    if any_async:
        imports.add("asyncio")
        imports.add("inspect")

    parts: list[str] = []
    compared = f" against {', '.join(c.ref for c in compares)}" if compares else ""
    parts.append(pycode.docstring(
        f"Benchmarks of {target.ref}{compared}, written by ``perflab new benchmark``.\n\n"
        f"Run as tests:\n    pytest {test_rel}\n"
        f"Gate with perflab (record the baseline once with --save-baseline):\n"
        f"    perflab --headless {profile_rel}"))
    body: list[str] = []
    if sized:
        body.append("SIZES = [\n" + pycode.block(pycode.int_literal(s) for s in sizes) + "]")
    keys = [pycode.slug(i.attr) if i is target or i.attr != target.attr else pycode.slug(i.ref) for i in infos]
    body.append("IMPLEMENTATIONS = {\n"
                + pycode.block(f"{pycode.string(k)}: {loc}" for k, loc in zip(keys, locals_, strict=True))
                + "}")
    defs: list[str] = []
    if todo:
        defs.append(
            "def todo(what: str):\n"
            + pycode.docstring("A place perflab could not fill in: it fails loudly until you do.", "    ")
            + "\n    raise NotImplementedError(\n"
            + '        f"TODO(perflab): build {what} in make_args() of {__file__}"\n'
            + "    )\n")
    if sized:
        src, uses_rng = _make_args(plan, target, test_rel)
        if uses_rng:
            imports.add("random")
        defs.append(src)
    if any_async:
        defs.append(
            "@pytest.fixture\ndef runner():\n"
            + pycode.docstring("One event loop per test, reused by every round so its start-up is not "
                               "timed.", "    ")
            + "\n    with asyncio.Runner() as r:\n        yield r\n")
        defs.append(
            "def blocking(fn, runner):\n"
            + pycode.docstring("A coroutine function as a plain call that runs to completion on the "
                               "runner's loop.", "    ")
            + "\n    if not inspect.iscoroutinefunction(fn):\n        return fn\n"
            + "    return lambda *args: runner.run(fn(*args))\n")
    defs.append(_test_function(func, target, compares, locals_, sized, any_async, sizes, profile_rel))

    source = (parts[0] + "\n\n" + imports.render() + "\n\n" + "\n".join(body) + "\n\n\n"
              + "\n\n".join(defs))
    return BenchFiles(test_rel, profile_rel, source, _profile(profile_name, target, compares, test_rel), todo)


def _test_function(func: str, target: TargetInfo, compares: list[TargetInfo], locals_: list[str], sized: bool,
                   any_async: bool, sizes: list[int], profile_rel: str) -> str:
    args = ["benchmark"] + (["runner"] if any_async else []) + ["impl"] + (["n"] if sized else [])
    span = f" for sizes {min(sizes):,} to {max(sizes):,}" if sized else ""
    ret = target.returns.replace(" ", "")
    head = ret.split("[")[0]
    type_check = head if ret and ret != "None" and head in _BUILTIN_TYPES else ""
    if compares:
        check = f"returns the same result as {compares[0].ref}"
    elif type_check:
        check = f"returns a {type_check}"
    else:
        check = "returns a correct result (TODO: check it below)"
    doc = (f"Requirement: {target.ref} {check}{span}, and stays no slower than its committed baseline "
           f"({profile_rel} gates it). Implementations in one group are measured on the same inputs.")
    lines = []
    if sized:
        lines.append('@pytest.mark.parametrize("n", SIZES)')
    lines.append('@pytest.mark.parametrize("impl", IMPLEMENTATIONS)')
    lines.append(f"def test_{func}({', '.join(args)}):")
    lines.append(pycode.docstring(doc, "    "))
    call_args = ", *args" if sized else ""
    fn = "IMPLEMENTATIONS[impl]"
    if any_async:
        fn = f"blocking({fn}, runner)"
    if sized:
        lines.append("    # every round reuses args: a target that changes them in place needs")
        lines.append("    # benchmark.pedantic(fn, setup=...) to get fresh arguments each round")
        lines.append("    args = make_args(n)")
    if compares:
        ref = locals_[1]
        ref_call = f"blocking({ref}, runner)" if any_async else ref
        lines.append(f"    expected = {ref_call}({'*make_args(n)' if sized else ''})  # reference, not timed")
    group = f'f"{func} n={{n}}"' if sized else pycode.string(func)
    lines.append(f"    benchmark.group = {group}")
    if compares:
        lines.append(f"    result = benchmark({fn}{call_args})")
        lines.append("    assert result == expected")
    elif type_check:
        lines.append(f"    result = benchmark({fn}{call_args})")
        lines.append(f"    assert isinstance(result, {type_check})")
        lines.append("    # TODO(perflab): check the value too, e.g. assert result == expected_for(n)")
    else:
        lines.append("    # TODO(perflab): check the result, e.g. assert result == expected_for(n)")
        lines.append(f"    benchmark({fn}{call_args})")
    return "\n".join(lines) + "\n"


def _profile(name: str, target: TargetInfo, compares: list[TargetInfo], test_rel: str) -> str:
    against = f" against {', '.join(c.ref for c in compares)}" if compares else ""
    return f"""\
# Written by `perflab new benchmark {target.ref}`; runs {test_rel}.
name = {pycode.toml_string(name)}
description = {pycode.toml_string(f"Benchmarks of {target.ref}{against}.")}
timeout = "10m"
# Regressions are caught against the committed baseline (baselines/{name}.json):
#   perflab --headless profiles/{name}.toml --save-baseline
# Absolute limits go here, e.g. thresholds = ["median < 5ms"].
thresholds = []
# The gate ignores changes smaller than the tolerance (default 5 %); shared CI runners are
# noisy, so raise it there, e.g. tolerance = "10%".

[target]
pytest = {pycode.toml_string(test_rel)}

[test]
type = "benchmark"
processes = 3  # independent pytest processes; a regression must show in each of them
min_rounds = 5
max_time = "0.2s"  # per benchmark and process; raise it for steadier figures
warmup = true
"""
