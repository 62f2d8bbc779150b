"""`transitstream simulate --gtfs`: another feed for one run, even one without shapes.txt."""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.unit.test_simulate_client import YESTERDAY_EVENING, ingestor
from transitstream.cli import app
from transitstream.config import get_settings
from transitstream.errors import TransitStreamError
from transitstream.simulate import IngestClient, SimParams, command
from transitstream.simulate import run as real_run


def test_gtfs_flag_runs_a_feed_without_shapes_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "no-shapes"
    with zipfile.ZipFile(get_settings().gtfs_path) as zf:
        zf.extractall(folder, [n for n in zf.namelist() if n != "shapes.txt"])
    with caplog.at_level(logging.WARNING, logger="transitstream.gtfs"):
        result = CliRunner().invoke(
            app, ["simulate", "--gtfs", str(folder), "--dry-run", "-n", "3", "--duration", "30"]
        )
    assert result.exit_code == 0, result.output
    assert "3 vehicles" in result.output
    warned = [r.getMessage() for r in caplog.records if "straight lines" in r.getMessage()]
    assert warned and str(folder) in warned[0]  # the feed given, not the bundled one
    assert "TRANSITSTREAM_GTFS_PATH" not in result.output  # a dry run feeds nothing downstream


def test_gtfs_flag_with_a_missing_feed_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--gtfs", str(tmp_path / "nope"), "--dry-run"])
    assert isinstance(result.exception, TransitStreamError)
    assert "GTFS feed not found" in str(result.exception)


def simulate_against_a_mock_ingestor(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> tuple[str, dict[str, Any]]:
    """`transitstream simulate ARGS` with its HTTP client on httpx.MockTransport: no process, no
    socket. Returns what it printed and the run.json it wrote."""
    summaries = []

    def run(params: SimParams, **options: Any) -> Any:
        handler = ingestor(get_settings(), "tok")  # the ingestor's contract, no Kafka
        client = IngestClient("http://ingest.test", "tok", transport=httpx.MockTransport(handler))
        with client:
            summary = real_run(params, **options, client=client, now=YESTERDAY_EVENING)
        summaries.append(summary)
        return summary

    monkeypatch.setattr(command, "run", run)
    flags = ["-n", "3", "--duration", "30", "--fast", "--quiet", "--bad-rate", "0"]
    result = CliRunner().invoke(app, ["simulate", *flags, *args])
    assert result.exit_code == 0, result.output
    assert len(summaries) == 1
    return result.output, json.loads(summaries[0].files["run"].read_text())


def test_another_feed_warns_that_only_the_simulator_reads_it_and_run_json_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other-feed.zip"
    shutil.copy(get_settings().gtfs_path, other)
    output, saved = simulate_against_a_mock_ingestor(
        monkeypatch, ["--gtfs", str(other), "--out", str(tmp_path / "out")]
    )
    warnings = [line for line in output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, output
    assert str(other) in warnings[0] and "TRANSITSTREAM_GTFS_PATH" in warnings[0]
    assert str(get_settings().gtfs_path) in warnings[0]
    assert saved["gtfs_path"] == str(other.resolve())


def test_the_stack_feed_needs_no_warning_and_run_json_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack_feed = get_settings().gtfs_path
    output, saved = simulate_against_a_mock_ingestor(
        monkeypatch, ["--gtfs", str(stack_feed), "--out", str(tmp_path / "out")]
    )
    assert "warning:" not in output
    assert saved["gtfs_path"] == str(stack_feed.resolve())
