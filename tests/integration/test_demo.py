"""`make demo` runs `transitstream demo`: the whole live pipeline, end to end, on a fresh stack.

The command a learner types first, so it is run here as they would run it (a subprocess, on a
stack of its own): it must exit 0, print the board's address, and leave the read models holding
the fleet, the API answering from them and the board page served.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.isolated import isolated_env
from transitstream.db.migrate import connect
from transitstream.infra.port_block import settings_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE = 27000


def test_demo_runs_the_pipeline_and_the_board_shows_the_fleet(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = isolated_env(state, BASE)
    settings = settings_of(env)
    cli = [sys.executable, "-m", "transitstream.cli"]
    try:
        done = subprocess.run(
            [*cli, "demo", "--vehicles", "4", "--speedup", "20", "--duration", "15"],
            env={**env, "COLUMNS": "160"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"live departure board and map: {settings.api.url}/" in done.stdout
        assert "caught up in" in done.stdout, done.stdout[-2000:]
        runs = sorted((state / "simulate").glob("*/run.json"))
        fleet = {v["vehicle_id"] for v in json.loads(runs[-1].read_text())["vehicles"]}
        with connect(settings) as conn:
            rows = conn.execute("SELECT vehicle_id FROM vehicle_state").fetchall()
            assert {r[0] for r in rows} >= fleet
        api = settings.api.url
        found = re.search(rf"board: {re.escape(api)}/\?stop=(\S+)", done.stdout)
        assert found, "the board's address names no busy stop: " + done.stdout[-1500:]
        board = httpx.get(f"{api}/", params={"stop": found[1]}, timeout=10)
        assert board.status_code == 200 and "text/html" in board.headers["content-type"]
        arrivals = httpx.get(f"{api}/eta", params={"stop_id": found[1]}, timeout=10).json()
        assert len({a["vehicle_id"] for a in arrivals["arrivals"]}) >= 1, arrivals
        vehicle = sorted(fleet)[0]
        assert httpx.get(f"{api}/vehicles/{vehicle}", timeout=10).status_code == 200
    finally:
        subprocess.run([*cli, "infra", "down"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(state, ignore_errors=True)
    assert not os.path.exists(state)
