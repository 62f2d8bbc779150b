"""What a person reads: the status hint for a half-started stack, and one-line CLI errors."""

from __future__ import annotations

import subprocess
import sys

from transitstream.cli import error_text
from transitstream.errors import InfraError
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


def test_cli_error_is_one_unwrapped_line_without_traceback() -> None:
    bad = {"TRANSITSTREAM_KAFKA__PORT": "ninety", "COLUMNS": "40", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "transitstream.cli", "infra", "status"],
        env=bad, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    line = next(x for x in done.stderr.splitlines() if "TRANSITSTREAM_KAFKA__PORT" in x)
    assert "unable to parse string as an integer" in line  # not wrapped at 40 columns


def test_background_service_reports_a_malformed_setting_by_name() -> None:
    """`python -m transitstream.ingest` is how `infra`/`demo` start the ingestor; its log is what
    a failed start shows, so it must hold the variable's name, not a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "transitstream.ingest"],
        env={"TRANSITSTREAM_INGEST__PORT": "eighty", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "TRANSITSTREAM_INGEST__PORT='eighty'" in done.stderr
    assert "Traceback" not in done.stderr
