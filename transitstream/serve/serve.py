"""Run the read API with uvicorn, on the address from Settings unless told otherwise."""

from __future__ import annotations

from transitstream.config import get_settings
from transitstream.infra import uvicorn_service
from transitstream.serve.app import create_app

FACTORY = "transitstream.serve.app:create_app"  # what each worker process imports


def serve(
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
    workers: int | None = None,
) -> None:
    """`workers` processes (default Settings.api.workers), each with its own Postgres pool,
    poller and read cache; uvicorn's parent process stops them all on SIGTERM."""
    uvicorn_service.serve_app(
        create_app,
        lambda s: s.api,
        host,
        port,
        log_level,
        grace_s=5,
        workers=workers or get_settings().api.workers,
        factory_path=FACTORY,
    )


def main() -> None:
    uvicorn_service.main(
        "python -m transitstream.serve",
        "The TransitStream read API: arrivals, vehicles, live WebSocket, GTFS-rt. "
        "Worker processes: TRANSITSTREAM_API__WORKERS.",
        "API",
        serve,
    )
