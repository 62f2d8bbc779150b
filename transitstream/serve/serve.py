"""Run the read API with uvicorn, on the address from Settings unless told otherwise."""

from __future__ import annotations

from transitstream.infra import uvicorn_service
from transitstream.serve.app import create_app


def serve(host: str | None = None, port: int | None = None, log_level: str = "info") -> None:
    uvicorn_service.serve_app(create_app, lambda s: s.api, host, port, log_level, grace_s=5)


def main() -> None:
    uvicorn_service.main(
        "python -m transitstream.serve",
        "The TransitStream read API: arrivals, vehicles, live WebSocket, GTFS-rt.",
        "API",
        serve,
    )
