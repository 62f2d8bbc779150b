"""The CLI's console keeps tables whole when its output is a pipe (CI logs, notebooks)."""

from __future__ import annotations

import io

import pytest

from transitstream.console import PIPE_WIDTH, make_console


@pytest.mark.parametrize("force_color", [None, "1"])
def test_a_pipe_gets_a_wide_console_unless_columns_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, force_color: str | None
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    if force_color is None:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
    else:  # what CI systems set for colour: Rich then thinks it writes to a terminal
        monkeypatch.setenv("FORCE_COLOR", force_color)
    assert make_console(file=io.StringIO()).width == PIPE_WIDTH
    monkeypatch.setenv("COLUMNS", "100")
    assert make_console(file=io.StringIO()).width == 100


def test_a_terminal_keeps_its_own_width(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("COLUMNS", raising=False)
    assert make_console(file=Terminal()).width != PIPE_WIDTH  # Rich's own (80 without a tty size)
