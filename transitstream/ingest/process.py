"""The ingestor as a background process of the demo (started like the stack's parts)."""

from __future__ import annotations

import sys

import httpx

from transitstream.config import Settings, to_env
from transitstream.infra.component import Component, Launch, Port


def launch(settings: Settings) -> Launch:
    i = settings.ingest
    return Launch(
        argv=[
            sys.executable,
            "-m",
            "transitstream.ingest",
            "--host",
            i.host,
            "--port",
            str(i.port),
        ],
        env=to_env(settings),
    )


def ready(settings: Settings) -> bool:
    return httpx.get(f"{settings.ingest.url}/healthz", timeout=3).status_code == 200


COMPONENT = Component(
    name="ingest",
    title=lambda s: "Ingestor (FastAPI)",
    marker=lambda s: f"transitstream.ingest --host {s.ingest.host} --port {s.ingest.port}",
    ports=lambda s: [Port(s.ingest.host, s.ingest.port, "TRANSITSTREAM_INGEST__PORT")],
    prepare=lambda s: None,
    launch=launch,
    ready=ready,
    endpoint=lambda s: s.ingest.url,
)
