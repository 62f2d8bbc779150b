"""Run the ingestor with uvicorn, on the address from Settings unless told otherwise."""

from __future__ import annotations

from transitstream.infra import uvicorn_service
from transitstream.ingest.app import create_app


def serve(host: str | None = None, port: int | None = None, log_level: str = "info") -> None:
    # 10 s: a request in flight finishes its Kafka transaction before the process exits
    uvicorn_service.serve_app(create_app, lambda s: s.ingest, host, port, log_level, grace_s=10)


def main() -> None:
    uvicorn_service.main(
        "python -m transitstream.ingest",
        "The TransitStream ingestor (FastAPI): GPS fixes in, Avro in Kafka out.",
        "INGEST",
        serve,
    )
