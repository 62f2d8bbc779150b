"""Test-wide setup: the test stack runs on its own ports and state folder.

So `make test` never touches a demo stack a learner has running on the default ports. The
variables are set in `pytest_configure`, before any Settings is built, and are inherited by every
subprocess and notebook kernel the tests start.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from transitstream.config import Settings, get_settings, project_root
from transitstream.infra.port_block import port_block_env

TEST_HOME = project_root() / ".transitstream"
TEST_PORT_BASE = int(os.environ.get("TRANSITSTREAM_TEST_PORT_BASE", "18000"))
"""Ports base+00..base+99 (19092 for Kafka at the default 18000). Set another base, and
TRANSITSTREAM_TEST_STATE, to run a second test session beside the first."""
TEST_ENV = {
    **port_block_env(
        Path(os.environ.get("TRANSITSTREAM_TEST_STATE", str(TEST_HOME / "test-state"))),
        TEST_PORT_BASE,
    ),
    "TRANSITSTREAM_PROGRESS_LOG": str(TEST_HOME / "test-progress_log.md"),
}


def pytest_configure() -> None:
    for key, value in TEST_ENV.items():
        os.environ.setdefault(key, value)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The real native stack, started once per session from an empty state folder.

    Stopped at the end unless TRANSITSTREAM_TEST_KEEP_STACK=1 (handy while iterating).
    """
    from transitstream.infra import stack as native

    settings = get_settings()
    keep = os.environ.get("TRANSITSTREAM_TEST_KEEP_STACK") == "1"
    if not keep:
        native.down(settings)
        shutil.rmtree(settings.state_dir, ignore_errors=True)
    native.up(settings, report=print)
    yield settings
    if not keep:
        native.down(settings)


@pytest.fixture(scope="session")
def ingestor(stack: Settings) -> Iterator[Settings]:
    """The ingestor as a real background process on the test port (stopped at the end)."""
    from transitstream.infra import stack as native
    from transitstream.infra.process import stop
    from transitstream.ingest.process import COMPONENT

    native.start(COMPONENT, stack)
    yield stack
    stop(COMPONENT.managed(stack))
