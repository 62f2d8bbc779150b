"""`transitstream simulate --gtfs`: another feed for one run, even one without shapes.txt."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transitstream.cli import app
from transitstream.config import get_settings
from transitstream.errors import TransitStreamError


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


def test_gtfs_flag_with_a_missing_feed_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--gtfs", str(tmp_path / "nope"), "--dry-run"])
    assert isinstance(result.exception, TransitStreamError)
    assert "GTFS feed not found" in str(result.exception)
