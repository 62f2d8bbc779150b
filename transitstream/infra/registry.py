"""Our Schema Registry (`transitstream.registry`) as a process of the native stack."""

from __future__ import annotations

import sys

import httpx

from transitstream.config import Settings, to_env
from transitstream.infra.component import Component, Launch, Port


def launch(settings: Settings) -> Launch:
    r = settings.registry
    return Launch(
        argv=[
            sys.executable,
            "-m",
            "transitstream.registry",
            "--host",
            r.host,
            "--port",
            str(r.port),
        ],
        env=to_env(settings),
    )


def ready(settings: Settings) -> bool:
    return httpx.get(f"{settings.registry.url}/subjects", timeout=2).status_code == 200


def subjects(settings: Settings) -> list[str]:
    response = httpx.get(f"{settings.registry.url}/subjects", timeout=5)
    response.raise_for_status()
    return list(response.json())


COMPONENT = Component(
    name="registry",
    title=lambda s: "Schema Registry (transitstream.registry)",
    marker=lambda s: f"transitstream.registry --host {s.registry.host} --port {s.registry.port}",
    ports=lambda s: [Port(s.registry.host, s.registry.port, "TRANSITSTREAM_REGISTRY__PORT")],
    prepare=lambda s: None,
    launch=launch,
    ready=ready,
    endpoint=lambda s: s.registry.url,
)
