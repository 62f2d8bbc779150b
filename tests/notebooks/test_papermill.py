"""Instructors run the notebooks as checkpoints with papermill: each must run to the end with
small parameters against the live stack and record its checkpoint."""

from __future__ import annotations

from pathlib import Path

import papermill
import pytest

from transitstream.config import Settings, project_root
from transitstream.progress import is_marked

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOTEBOOKS = project_root() / "notebooks"
CHECKPOINTS = {
    "00_infra_up.ipynb": (0, "Infra up", {"startup_timeout_s": 120.0}),
    "01_ingestion.ipynb": (1, "Ingestion", {"vehicles": 4, "duration_s": 5.0, "seed": 3}),
    "02_stream_processing.ipynb": (
        2,
        "Stream processing",
        {"vehicles": 6, "duration_s": 15.0, "seed": 5, "fleet_prefix": "pm2"},
    ),
    "03_read_models.ipynb": (
        3,
        "Read models",
        {"vehicles": 4, "duration_s": 10.0, "seed": 6, "fleet_prefix": "pm3"},
    ),
    "04_serving.ipynb": (
        4,
        "Serving",
        {"vehicles": 4, "duration_s": 10.0, "seed": 5, "fleet_prefix": "pm4"},
    ),
}


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_notebook_runs_and_marks_its_checkpoint(name: str, stack: Settings, tmp_path: Path) -> None:
    milestone, title, parameters = CHECKPOINTS[name]
    stack.progress_log.unlink(missing_ok=True)
    papermill.execute_notebook(
        str(NOTEBOOKS / name),
        str(tmp_path / name),
        parameters=parameters,
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        kernel_name="python3",
    )
    assert is_marked(milestone, title, stack.progress_log)


def test_every_notebook_is_covered() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) == sorted(CHECKPOINTS)
