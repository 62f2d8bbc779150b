"""Our Schema Registry (`transitstream.registry`) as a process of the native stack."""

from __future__ import annotations

import httpx

from transitstream.config import Settings
from transitstream.infra.component import http_service

COMPONENT = http_service(
    name="registry",
    title="Schema Registry (transitstream.registry)",
    module="transitstream.registry",
    address=lambda s: (s.registry.host, s.registry.port),
    setting="TRANSITSTREAM_REGISTRY__PORT",
    ready_path="/subjects",
)


def subjects(settings: Settings) -> list[str]:
    response = httpx.get(f"{settings.registry.url}/subjects", timeout=5)
    response.raise_for_status()
    return list(response.json())
