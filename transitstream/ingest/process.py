"""The ingestor as a background process of the demo (started like the stack's parts)."""

from __future__ import annotations

from transitstream.infra.component import http_service

COMPONENT = http_service(
    name="ingest",
    title="Ingestor (FastAPI)",
    module="transitstream.ingest",
    address=lambda s: (s.ingest.host, s.ingest.port),
    setting="TRANSITSTREAM_INGEST__PORT",
    ready_path="/healthz",
)
