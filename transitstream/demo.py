"""`transitstream demo` (what `make demo` runs): the live pipeline as far as it is built.

The stack; the ingestor and the Spark stream job in the background; a simulated fleet posting
for a bounded time; then what landed in Kafka (positions, dead letters, enriched positions, ETAs,
anomalies) and where to look next. Everything keeps running
afterwards (`transitstream infra down` stops it), so the learner can poke at it.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from transitstream.config import Settings
from transitstream.infra import stack
from transitstream.infra.report import memory_line, status_table
from transitstream.services import SERVICES
from transitstream.simulate import RunSummary, SimParams, run
from transitstream.simulate.progress import summary_table
from transitstream.topic_reader import read_topic

CATCH_UP_S = 10.0  # a few micro-batches of the stream job after the last fix


def start_services(settings: Settings, console: Console) -> None:
    for service in SERVICES:
        outcome = stack.start(service, settings, lambda line: console.print(f"  {line}"))
        if outcome == "already running":
            console.print(f"  {service.name}: already running")


def topic_counts(settings: Settings) -> Table:
    table = Table(title="What is in the log (read_committed)")
    table.add_column("topic")
    table.add_column("records", justify="right")
    t = settings.topics
    for topic in (t.position, t.position_dlq, t.enriched, t.eta, t.anomaly):
        table.add_row(topic, f"{len(read_topic(settings, topic, avro=False)):,}")
    return table


def demo(settings: Settings, params: SimParams, console: Console | None = None) -> RunSummary:
    console = console or Console()
    console.rule("1. the native stack")
    rows = stack.up(settings, report=lambda line: console.print(f"  {line}"))
    console.print(status_table(rows))
    console.print(memory_line(rows))
    console.rule("2. the ingestor and the stream job (Spark)")
    start_services(settings, console)
    console.print(status_table(stack.status(settings, SERVICES), title="TransitStream services"))
    console.rule("3. a simulated fleet reporting to it")
    summary = run(params, settings=settings, console=console)
    console.print(summary_table(summary))
    console.print(f"  letting the stream job catch up ({CATCH_UP_S:.0f}s) ...")
    time.sleep(CATCH_UP_S)
    console.rule("4. what landed")
    console.print(topic_counts(settings))
    console.print(
        f"ground truth: {summary.out_dir}\n"
        f"ingestor API docs: {settings.ingest.url}/docs   metrics: {settings.ingest.url}/metrics\n"
        f"Prometheus: {settings.prometheus.url}/targets   "
        f"registry: {settings.registry.url}/subjects\n"
        "everything keeps running: `transitstream infra down` (or `make down`) stops it."
    )
    return summary
