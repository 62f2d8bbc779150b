"""The projectors as a background process of the demo (started like the stack's parts).

Ready once /healthz answers 200: Postgres migrated, consumers subscribed, loop turning.
"""

from __future__ import annotations

from transitstream.infra.component import cli_job

COMPONENT = cli_job(
    name="project",
    title="Projectors (Kafka -> Postgres read models)",
    command=("project", "run", "all"),
    address=lambda s: (s.project.host, s.project.metrics_port),
    setting="TRANSITSTREAM_PROJECT__METRICS_PORT",
    ready_path="/healthz",
)
