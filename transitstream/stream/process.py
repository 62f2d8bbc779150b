"""The stream job as a background process of the demo (started like the stack's parts)."""

from __future__ import annotations

import sys

import httpx

from transitstream.config import Settings, to_env
from transitstream.infra.component import Component, Launch, Port


def launch(settings: Settings) -> Launch:
    port = str(settings.spark.exporter_port)
    job = ["stream", "run", "all", "--metrics-port", port]
    return Launch(argv=[sys.executable, "-m", "transitstream.cli", *job], env=to_env(settings))


def ready(settings: Settings) -> bool:
    """Ready once the job's exporter answers, i.e. the Spark session and query are up."""
    url = f"http://127.0.0.1:{settings.spark.exporter_port}/metrics"
    return httpx.get(url, timeout=3).status_code == 200


COMPONENT = Component(
    name="stream",
    title=lambda s: "Stream job (Spark: enrich, ETA, anomalies)",
    marker=lambda s: f"stream run all --metrics-port {s.spark.exporter_port}",
    ports=lambda s: [
        Port("127.0.0.1", s.spark.exporter_port, "TRANSITSTREAM_SPARK__EXPORTER_PORT")
    ],
    prepare=lambda s: None,
    launch=launch,
    ready=ready,
    endpoint=lambda s: f"http://127.0.0.1:{s.spark.exporter_port}/metrics",
)
