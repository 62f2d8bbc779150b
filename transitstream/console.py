"""How the CLI renders: its Rich console, and its command groups' help.

Rich lays tables out for 80 columns when the output is not a terminal (a pipe, a CI log, a
notebook cell running the CLI), and cuts what does not fit: `infra status` showed the Postgres
address as `postgresql://transitstr…`. There, unless COLUMNS says otherwise, 160 columns.
Whether the output is a terminal is asked of the stream itself: Rich also counts FORCE_COLOR
(which CI systems set for colour) as a terminal, and would keep 80 columns there.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any, Literal

import typer
from rich.console import Console

PIPE_WIDTH = 160
# --help re-flows docstring paragraphs to the terminal (Typer's "rich" keeps their line breaks)
MARKUP: Literal["markdown"] = "markdown"


def make_console(stderr: bool = False, file: IO[str] | None = None, **options: Any) -> Console:
    stream = file or (sys.stderr if stderr else sys.stdout)
    piped = not (hasattr(stream, "isatty") and stream.isatty()) and "COLUMNS" not in os.environ
    width = PIPE_WIDTH if piped and not _in_jupyter() else None
    return Console(stderr=stderr, file=file, width=width, **options)


def _in_jupyter() -> bool:
    """Rich's own test (a notebook renders its HTML at the cell's width), as a console it
    makes with no options sees it."""
    return Console().is_jupyter


def command_group(help: str) -> typer.Typer:
    """A `transitstream <group>` of subcommands, all with the same help rendering."""
    return typer.Typer(rich_markup_mode=MARKUP, help=help, no_args_is_help=True)
