"""The command line's help: what an option's help text says must reach the terminal."""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.testing import CliRunner

from akhbar.cli import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command under ``group`` (Typer's own command classes), with the words that call it."""
    found = [(path, group)]
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            found += _commands(sub, (*path, name))
    return found


def test_every_environment_variable_an_option_names_shows_in_its_help() -> None:
    """Rich reads «[env: X]» as a style tag and drops it: `akhbar run --help` printed
    "Warehouse directory ." without its variable or default until the bracket was escaped."""
    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        named = {v for p in command.params for v in re.findall(r"AKHBAR_\w+", getattr(p, "help", None) or "")}
        if not named:
            continue
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())
        assert not [v for v in named if v not in text], (path, text)
        checked += 1
    assert checked >= 2
