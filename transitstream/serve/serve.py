"""Run the read API with uvicorn, on the address from Settings unless told otherwise."""

from __future__ import annotations

from transitstream.config import get_settings
from transitstream.gtfs.reader import FeedSource
from transitstream.infra import uvicorn_service
from transitstream.serve.app import create_app


def serve(
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
    workers: int | None = None,
) -> None:
    """`workers` processes (default Settings.api.workers), each with its own Postgres pool,
    poller and read cache; uvicorn's parent process stops them all on SIGTERM."""
    settings = get_settings()
    workers = workers or settings.api.workers
    # the app loads the feed in its lifespan, where a failure is uvicorn's traceback (per
    # worker): the usual misconfiguration (no feed at TRANSITSTREAM_GTFS_PATH) is one line here,
    # found by opening the feed (not parsing it: the app does that anyway)
    with FeedSource(settings.gtfs_path):
        pass
    uvicorn_service.serve_app(
        create_app,
        lambda s: s.api,
        host,
        port,
        log_level,
        grace_s=5,
        workers=workers,
    )


def main() -> None:
    uvicorn_service.main(
        "python -m transitstream.serve",
        "The TransitStream read API: arrivals, vehicles, live WebSocket, GTFS-rt. "
        "Worker processes: TRANSITSTREAM_API__WORKERS.",
        "API",
        serve,
    )
