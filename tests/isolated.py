"""A stack of its own for tests that stop, kill or restart parts of it.

Such tests must not disturb the session stack the other tests share, so they get their own
state folder and a block of ports (base + the usual last digits).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transitstream.config import Settings, load_settings
from transitstream.infra import stack
from transitstream.infra.process import stop
from transitstream.ingest.process import COMPONENT as INGEST

PORT_OFFSETS = {
    "KAFKA__PORT": 92,
    "KAFKA__CONTROLLER_PORT": 93,
    "KAFKA__METRICS_PORT": 94,
    "REGISTRY__PORT": 81,
    "POSTGRES__PORT": 32,
    "PROMETHEUS__PORT": 90,
    "INGEST__PORT": 0,
    "API__PORT": 80,
    "SPARK__EXPORTER_PORT": 5,
}


def isolated_env(state_dir: Path, base: int) -> dict[str, str]:
    """os.environ plus TRANSITSTREAM_* variables for a stack on ports base+00..base+99."""
    env = {**os.environ, "TRANSITSTREAM_STATE_DIR": str(state_dir)}
    env.update({f"TRANSITSTREAM_{k}": str(base + v) for k, v in PORT_OFFSETS.items()})
    return env


def settings_of(env: dict[str, str]) -> Settings:
    """The Settings a process started with `env` would see."""
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def isolated_stack(state_dir: Path, base: int, ingest: bool = True) -> Iterator[Settings]:
    """Up (with the ingestor), yield its Settings, then down: for a module-scoped fixture."""
    settings = settings_of(isolated_env(state_dir, base))
    stack.up(settings)
    if ingest:
        stack.start(INGEST, settings)
    try:
        yield settings
    finally:
        stop(INGEST.managed(settings))
        stack.down(settings)
