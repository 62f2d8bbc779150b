"""Run the read API with uvicorn, on the address from Settings unless told otherwise."""

from __future__ import annotations

import argparse

import uvicorn

from transitstream.config import get_settings
from transitstream.serve.app import create_app


def serve(host: str | None = None, port: int | None = None, log_level: str = "info") -> None:
    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m transitstream.serve",
        description="The TransitStream read API: arrivals, vehicles, live WebSocket, GTFS-rt.",
    )
    parser.add_argument("--host", help="listen address (default: TRANSITSTREAM_API__HOST)")
    parser.add_argument("--port", type=int, help="port (default: TRANSITSTREAM_API__PORT)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    serve(args.host, args.port, args.log_level)
