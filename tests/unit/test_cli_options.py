"""The options several commands share are one definition: the same flag, destination and help everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from perflab import cli

# Same flag, another option: a run's results file, and the profiles the CI workflow runs.
NOT_SHARED = {("perflab", "--json"), ("perflab ci github", "--profiles")}


def parsers(p: argparse.ArgumentParser, path: str = "perflab") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from parsers(child, f"{path} {name}")


def test_each_shared_option_has_one_definition() -> None:
    everywhere = [*parsers(cli._main_parser()), *parsers(cli._sub_parser())]
    seen: dict[str, list[str]] = {}
    for path, p in everywhere:
        for action in p._actions:
            for name, (flags, kw) in cli.SHARED_OPTIONS.items():
                if flags[0] in action.option_strings and (path, flags[0]) not in NOT_SHARED:
                    assert action.help == kw["help"], f"{path} {flags[0]}"
                    assert action.dest == kw.get("dest", name), f"{path} {flags[0]}"
                    seen.setdefault(name, []).append(path)
    assert "perflab sessions" in seen["store"] and "perflab compare" in seen["baseline_dir"]
    assert sorted(seen["json"]) == ["perflab baseline show", "perflab compare", "perflab history",
                                    "perflab sessions", "perflab show"]
    assert sorted(seen["profiles_dir"]) == ["perflab", "perflab replay"]


def test_json_flag_and_a_run_s_json_file_stay_apart() -> None:
    """``perflab --headless P --json FILE`` writes a file; ``perflab show last --json`` takes no value."""
    run = cli._main_parser().parse_args(["--headless", "p.toml", "--json", "out.json"])
    assert run.json_path == "out.json" and run.profiles == ["p.toml"]
    show = cli._sub_parser().parse_args(["show", "--json", "last"])
    assert show.json is True and show.session == "last"
    assert cli._sub_parser().parse_args(["sessions"]).json is False
