"""A stack of its own for tests that stop, kill or restart parts of it.

Such tests must not disturb the session stack the other tests share, so they get their own
state folder and a block of ports (base + the usual last digits). Bases stay below 32768: above
it, Linux hands the same ports out as the local end of outgoing connections, and a listener that
finds its port taken by one fails to start at random.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transitstream.config import Settings
from transitstream.infra import stack
from transitstream.infra.port_block import port_block_env, settings_of
from transitstream.infra.process import stop
from transitstream.ingest.process import COMPONENT as INGEST


def isolated_env(state_dir: Path, base: int) -> dict[str, str]:
    """os.environ plus TRANSITSTREAM_* variables for a stack on ports base+00..base+99."""
    return {**os.environ, **port_block_env(state_dir, base)}


@contextmanager
def isolated_stack(state_dir: Path, base: int, ingest: bool = True) -> Iterator[Settings]:
    """Up (with the ingestor), yield its Settings, then down: for a module-scoped fixture."""
    settings = settings_of(isolated_env(state_dir, base))
    try:
        stack.up(settings)
        if ingest:
            stack.start(INGEST, settings)
    except BaseException:
        stack.down(settings)  # a half-started stack would hold the ports of the next run
        raise
    try:
        yield settings
    finally:
        stop(INGEST.managed(settings))
        stack.down(settings)


def small_batches(settings: Settings, rows: int = 20) -> Settings:
    """`settings` with micro-batches of at most `rows` positions: a couple of fixes per vehicle
    of a small test fleet, as a live job sees them. The job predicts ETAs from each vehicle's
    latest fix of a batch, so one batch of a whole run would send only the last fix's ETAs."""
    return settings.with_spark(max_offsets_per_trigger=rows)
