"""What a person reads: the status hint for a half-started stack, and one-line CLI errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from transitstream import cli
from transitstream.cli import error_text
from transitstream.config import get_settings
from transitstream.errors import InfraError
from transitstream.infra import uvicorn_service
from transitstream.infra.report import status_hint
from transitstream.infra.stack import ComponentStatus


def row(name: str, running: bool, ready: bool) -> ComponentStatus:
    return ComponentStatus(
        name=name, title=name, endpoint="-", running=running, ready=ready,
        pid=1 if running else None, rss_mb=1.0 if running else 0.0, log=f"/logs/{name}.log",
    )  # fmt: skip


def test_all_ready_needs_no_hint() -> None:
    assert status_hint([row("kafka", True, True), row("postgres", True, True)]) == ""


def test_nothing_running_says_how_to_start() -> None:
    hint = status_hint([row("kafka", False, False), row("postgres", False, False)])
    assert "not running" in hint and "transitstream infra up" in hint


def test_half_started_names_each_missing_part_and_both_ways_out() -> None:
    hint = status_hint(
        [row("postgres", True, True), row("kafka", False, False), row("registry", True, False)]
    )
    assert hint.startswith("half started")
    assert "kafka (not running)" in hint
    assert "registry (not answering, see /logs/registry.log)" in hint
    assert "postgres" not in hint
    assert "infra up" in hint and "infra down" in hint


def test_error_text_keeps_brackets_and_is_not_markup() -> None:
    text = error_text(InfraError("port [8081] taken; set [bold]X[/bold]"))
    assert text.plain == "error: port [8081] taken; set [bold]X[/bold]"


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings read from the environment as the test sets it, and re-read after it."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("fresh_settings")
def test_cli_error_is_one_unwrapped_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRANSITSTREAM_KAFKA__PORT", "ninety")
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setattr(sys, "argv", ["transitstream", "infra", "status"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = next(x for x in err.splitlines() if "TRANSITSTREAM_KAFKA__PORT" in x)
    assert "unable to parse string as an integer" in line  # not wrapped at 40 columns


@pytest.mark.usefixtures("fresh_settings")
def test_background_service_reports_a_malformed_setting_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m transitstream.ingest` (which calls `serve.main`) is how `infra`/`demo` start the
    ingestor; its log is what a failed start shows, so it must hold the variable's name, not a
    traceback."""
    from transitstream.ingest.serve import main

    def no_server(*args: object, **kwargs: object) -> None:
        raise AssertionError("the malformed setting should stop the start before uvicorn runs")

    monkeypatch.setattr(uvicorn_service.uvicorn, "run", no_server)
    monkeypatch.setenv("TRANSITSTREAM_INGEST__PORT", "eighty")
    monkeypatch.setattr(sys, "argv", ["python -m transitstream.ingest"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "TRANSITSTREAM_INGEST__PORT='eighty'" in err
    assert "Traceback" not in err
