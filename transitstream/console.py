"""The one way the CLI makes a Rich console.

Rich lays tables out for 80 columns when the output is not a terminal (a pipe, a CI log, a
notebook cell running the CLI), and cuts what does not fit: `infra status` showed the Postgres
address as `postgresql://transitstr…`. There, unless COLUMNS says otherwise, 160 columns.
"""

from __future__ import annotations

import os

from rich.console import Console

PIPE_WIDTH = 160


def make_console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if console.is_terminal or console.is_jupyter or "COLUMNS" in os.environ:
        return console
    return Console(stderr=stderr, width=PIPE_WIDTH)
