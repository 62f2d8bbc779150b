"""The projectors as a background process of the demo (started like the stack's parts)."""

from __future__ import annotations

import sys

import httpx

from transitstream.config import Settings, to_env
from transitstream.infra.component import Component, Launch, Port


def launch(settings: Settings) -> Launch:
    port = str(settings.project.metrics_port)
    argv = [
        sys.executable,
        "-m",
        "transitstream.cli",
        "project",
        "run",
        "all",
        "--metrics-port",
        port,
    ]
    return Launch(argv=argv, env=to_env(settings))


def ready(settings: Settings) -> bool:
    """Ready once /healthz answers 200: Postgres migrated, consumer subscribed, loop turning."""
    return httpx.get(f"{settings.project.url}/healthz", timeout=3).status_code == 200


COMPONENT = Component(
    name="project",
    title=lambda s: "Projectors (Kafka -> Postgres read models)",
    marker=lambda s: f"project run all --metrics-port {s.project.metrics_port}",
    ports=lambda s: [
        Port(s.project.host, s.project.metrics_port, "TRANSITSTREAM_PROJECT__METRICS_PORT")
    ],
    prepare=lambda s: None,
    launch=launch,
    ready=ready,
    endpoint=lambda s: f"{s.project.url}/metrics",
)
