"""A whole stack on another block of ports and its own state folder.

Tests that kill or restart parts, and benchmarks, run beside a learner's demo stack (default
ports) without touching it: ports are `base` + the usual last digits of each default.
"""

from __future__ import annotations

import os
from pathlib import Path

from transitstream.config import Settings, load_settings

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
    "PROJECT__METRICS_PORT": 6,
}


def port_block_env(state_dir: Path, base: int) -> dict[str, str]:
    """The TRANSITSTREAM_* variables of a stack in `state_dir` on ports base+00..base+99."""
    env = {"TRANSITSTREAM_STATE_DIR": str(state_dir)}
    env.update({f"TRANSITSTREAM_{k}": str(base + v) for k, v in PORT_OFFSETS.items()})
    return env


def settings_of(env: dict[str, str]) -> Settings:
    """The Settings a process started with `env` (on top of ours) would see."""
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
