"""The command line's own surface: every command is listed with one line, unknown commands are named as such."""

from __future__ import annotations

import argparse

import pytest

from perflab import cli


def subcommand_names() -> set[str]:
    parser = cli._sub_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_help_lists_every_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    listed = out.split("commands (perflab COMMAND --help for each):", 1)[1].split("exit codes:", 1)[0]
    rows = {line.split()[0]: line for line in listed.splitlines() if line.strip()}
    assert set(rows) == subcommand_names()
    for name in ("init", "new", "worker"):
        assert len(rows[name].split(None, 1)[1]) > 10
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130 "):
        assert f"\n  {code}" in out


@pytest.mark.parametrize(("word", "hint"), [("sesions", "did you mean 'sessions'?"), ("replya", "did you mean 'replay'?"),
                                            ("nosuch", "")])
def test_unknown_command_is_named_with_a_hint(word: str, hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([word]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"perflab: unknown command '{word}'")
    assert hint in err and "--headless" not in err
    assert "sessions, show" in err
    if not hint:
        assert "did you mean" not in err


def test_a_path_is_not_an_unknown_command(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["missing.toml"]) == 2  # looks like a profile: the app refuses it without --headless
    assert "unknown command" not in capsys.readouterr().err
