"""The stream job as a background process of the demo (started like the stack's parts).

Ready once the job's exporter answers /metrics, i.e. the Spark session and query are up.
"""

from __future__ import annotations

from transitstream.infra.component import cli_job

COMPONENT = cli_job(
    name="stream",
    title="Stream job (Spark: enrich, ETA, anomalies)",
    command=("stream", "run", "all"),
    address=lambda s: ("127.0.0.1", s.spark.exporter_port),
    setting="TRANSITSTREAM_SPARK__EXPORTER_PORT",
    ready_path="/metrics",
)
