"""Run one of our FastAPI apps with uvicorn: the one way the ingestor and the read API start.

Both are started the same way (by the CLI, or as `python -m ...` background processes of the
stack), so the address rule (Settings unless told otherwise) and the shutdown grace live here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from transitstream.config import ServiceSettings, Settings, get_settings

AppFactory = Callable[[Settings], FastAPI]
Section = Callable[[Settings], ServiceSettings]


def serve_app(
    factory: AppFactory,
    section: Section,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
    grace_s: int = 5,
) -> None:
    settings = get_settings()
    address = section(settings)
    uvicorn.run(
        factory(settings),
        host=host or address.host,
        port=port or address.port,
        log_level=log_level,
        timeout_graceful_shutdown=grace_s,
    )


def main(prog: str, description: str, variable: str, run: Callable[..., None]) -> None:
    """`python -m <prog>`: --host/--port/--log-level, defaults from TRANSITSTREAM_<variable>__*."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", help=f"listen address (default: TRANSITSTREAM_{variable}__HOST)")
    parser.add_argument("--port", type=int, help=f"port (default: TRANSITSTREAM_{variable}__PORT)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    run(args.host, args.port, args.log_level)
