"""The real native stack, started once per test session on the test ports.

It starts from an empty state folder so results never depend on an earlier run, and it is
stopped at the end unless TRANSITSTREAM_TEST_KEEP_STACK=1 (handy while iterating).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from transitstream.config import Settings, get_settings
from transitstream.infra import stack as native


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    settings = get_settings()
    keep = os.environ.get("TRANSITSTREAM_TEST_KEEP_STACK") == "1"
    if not keep:
        native.down(settings)
        shutil.rmtree(settings.state_dir, ignore_errors=True)
    native.up(settings, report=print)
    yield settings
    if not keep:
        native.down(settings)
