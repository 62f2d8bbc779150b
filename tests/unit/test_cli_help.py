"""`--help` that helps: every command's help renders, docstring paragraphs are re-flowed to the
terminal (not cut where the source line ended), and `<placeholders>` survive Markdown."""

from __future__ import annotations

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from transitstream.cli import app


def leaf_commands(group: TyperGroup, path: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command of the CLI, walked from the app itself: one added later is checked too."""
    ctx = typer.Context(group)
    out: list[list[str]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, TyperGroup):  # a sub-app
            out += leaf_commands(command, (*path, name))
        else:
            out.append([*path, name])
    return out


COMMANDS = leaf_commands(typer.main.get_group(app))


def help_text(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # the words, without the box drawing's layout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    assert "Usage: " in help_text(*command)


def test_paragraphs_are_reflowed_and_placeholders_kept() -> None:
    raw = CliRunner().invoke(app, ["project", "checksum", "--help"], env={"COLUMNS": "200"})
    assert "only): equal after a rebuild to what" in raw.output  # one line at 200 columns
    assert "<state_dir>/simulate/<run-id>/" in help_text("simulate")
    assert "Bearer <token>" in help_text("ingest", "serve")
