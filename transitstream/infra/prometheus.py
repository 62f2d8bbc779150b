"""Prometheus from the Debian package, with a config generated from Settings.

It scrapes every service of ours whether or not it runs yet: a target that is down shows as
`up == 0`, which is itself the health signal the dashboards use.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import yaml

from transitstream.config import Settings
from transitstream.errors import InfraError
from transitstream.infra.component import Component, Launch, Port


def home(settings: Settings) -> Path:
    return settings.state_dir / "prometheus"


def config_file(settings: Settings) -> Path:
    return home(settings) / "prometheus.yml"


def scrape_jobs(settings: Settings) -> dict[str, str]:
    """job name -> host:port of its /metrics."""
    return {
        "prometheus": f"{settings.prometheus.host}:{settings.prometheus.port}",
        "kafka": f"{settings.kafka.host}:{settings.kafka.metrics_port}",
        "registry": f"{settings.registry.host}:{settings.registry.port}",
        "ingest": f"{settings.ingest.host}:{settings.ingest.port}",
        "api": f"{settings.api.host}:{settings.api.port}",
        "stream": f"127.0.0.1:{settings.spark.exporter_port}",
        "project": f"{settings.project.host}:{settings.project.metrics_port}",
    }


def render_config(settings: Settings) -> str:
    config = {
        "global": {
            "scrape_interval": settings.prometheus.scrape_interval,
            "evaluation_interval": settings.prometheus.scrape_interval,
        },
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in scrape_jobs(settings).items()
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def binary(settings: Settings) -> str:
    found = shutil.which(settings.prometheus.binary)
    if not found:
        raise InfraError(
            "Prometheus is not installed: run `make setup` as root, or "
            "`sudo apt-get install prometheus`, or set TRANSITSTREAM_PROMETHEUS__BINARY."
        )
    return found


def prepare(settings: Settings) -> None:
    (home(settings) / "data").mkdir(parents=True, exist_ok=True)
    config_file(settings).write_text(render_config(settings))


def launch(settings: Settings) -> Launch:
    p = settings.prometheus
    return Launch(
        argv=[
            binary(settings),
            f"--config.file={config_file(settings)}",
            f"--storage.tsdb.path={home(settings) / 'data'}",
            f"--storage.tsdb.retention.time={p.retention}",
            f"--web.listen-address={p.host}:{p.port}",
            "--web.enable-lifecycle",
        ],
        cwd=home(settings),
    )


def ready(settings: Settings) -> bool:
    return httpx.get(f"{settings.prometheus.url}/-/ready", timeout=2).status_code == 200


def targets(settings: Settings) -> dict[str, str]:
    """job -> health ("up", "down", "unknown") as Prometheus sees it."""
    data = httpx.get(f"{settings.prometheus.url}/api/v1/targets", timeout=5).json()
    return {t["labels"]["job"]: t["health"] for t in data["data"]["activeTargets"]}


COMPONENT = Component(
    name="prometheus",
    title=lambda s: "Prometheus",
    marker=lambda s: str(config_file(s)),
    ports=lambda s: [Port(s.prometheus.host, s.prometheus.port, "TRANSITSTREAM_PROMETHEUS__PORT")],
    prepare=prepare,
    launch=launch,
    ready=ready,
    endpoint=lambda s: s.prometheus.url,
)
