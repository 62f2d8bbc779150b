"""Run one of our FastAPI apps with uvicorn: the one way the ingestor and the read API start.

Both are started the same way (by the CLI, or as `python -m ...` background processes of the
stack), so the address rule (Settings unless told otherwise) and the shutdown grace live here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from transitstream.config import ServiceSettings, Settings, get_settings
from transitstream.errors import TransitStreamError

AppFactory = Callable[[Settings], FastAPI]
Section = Callable[[Settings], ServiceSettings]


def serve_app(
    factory: AppFactory,
    section: Section,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
    grace_s: int = 5,
    workers: int = 1,
    factory_path: str | None = None,
) -> None:
    """Run the app on `section`'s address unless told otherwise.

    With `workers` > 1, uvicorn's parent process holds the socket and runs that many worker
    processes, each of which imports `factory_path` ("module:function", called with no argument:
    Settings come from the environment, which the workers inherit). The parent forwards SIGTERM
    and SIGINT to them and waits for them to stop (each gets `grace_s` for open requests), so
    stopping the parent by its PID stops them all.
    """
    settings = get_settings()
    address = section(settings)
    options: dict[str, Any] = {
        "host": host or address.host,
        "port": port or address.port,
        "log_level": log_level,
        "timeout_graceful_shutdown": grace_s,
    }
    if workers > 1:
        if factory_path is None:
            raise ValueError("several workers need the app factory's import path (module:function)")
        uvicorn.run(factory_path, factory=True, workers=workers, **options)
    else:
        uvicorn.run(factory(settings), **options)


def main(prog: str, description: str, variable: str, run: Callable[..., None]) -> None:
    """`python -m <prog>`: --host/--port/--log-level, defaults from TRANSITSTREAM_<variable>__*."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", help=f"listen address (default: TRANSITSTREAM_{variable}__HOST)")
    parser.add_argument("--port", type=int, help=f"port (default: TRANSITSTREAM_{variable}__PORT)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    try:
        run(args.host, args.port, args.log_level)
    except TransitStreamError as exc:  # a malformed TRANSITSTREAM_* value: its name, no traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
