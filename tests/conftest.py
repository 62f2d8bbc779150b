"""Test-wide setup: the test stack runs on its own ports and state folder.

So `make test` never touches a demo stack a learner has running on the default ports. The
variables are set in `pytest_configure`, before any Settings is built, and are inherited by every
subprocess and notebook kernel the tests start.
"""

from __future__ import annotations

import os

from transitstream.config import project_root

TEST_ENV = {
    "TRANSITSTREAM_STATE_DIR": str(project_root() / ".transitstream" / "test-state"),
    "TRANSITSTREAM_PROGRESS_LOG": str(project_root() / ".transitstream" / "test-progress_log.md"),
    "TRANSITSTREAM_KAFKA__PORT": "19092",
    "TRANSITSTREAM_KAFKA__CONTROLLER_PORT": "19093",
    "TRANSITSTREAM_KAFKA__METRICS_PORT": "19404",
    "TRANSITSTREAM_REGISTRY__PORT": "18081",
    "TRANSITSTREAM_POSTGRES__PORT": "15432",
    "TRANSITSTREAM_PROMETHEUS__PORT": "19090",
    "TRANSITSTREAM_INGEST__PORT": "18000",
    "TRANSITSTREAM_API__PORT": "18080",
}


def pytest_configure() -> None:
    for key, value in TEST_ENV.items():
        os.environ.setdefault(key, value)
    from transitstream.config import get_settings

    get_settings.cache_clear()
