"""The CLI's console keeps tables whole when its output is a pipe (CI logs, notebooks)."""

from __future__ import annotations

import pytest

from transitstream.console import PIPE_WIDTH, make_console


def test_a_pipe_gets_a_wide_console_unless_columns_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("JUPYTER_COLUMNS", raising=False)
    console = make_console()
    assert not console.is_terminal  # pytest captures stdout
    assert console.width == PIPE_WIDTH
    monkeypatch.setenv("COLUMNS", "100")
    assert make_console().width == 100
