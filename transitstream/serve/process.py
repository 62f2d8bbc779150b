"""The read API as a background process of the demo (started like the stack's parts)."""

from __future__ import annotations

from transitstream.infra.component import http_service

COMPONENT = http_service(
    name="serve",
    title="Read API (FastAPI)",
    module="transitstream.serve",
    address=lambda s: (s.api.host, s.api.port),
    setting="TRANSITSTREAM_API__PORT",
    ready_path="/healthz",
)
