"""`transitstream demo` (what `make demo` runs): the live pipeline, end to end.

The stack; the ingestor, the Spark stream job, the projectors and the read API in the
background; the departure board's address; a simulated fleet posting for a bounded time while
the board updates; then what landed in Kafka and in the read models, and where to look next.
Everything keeps running afterwards (`transitstream infra down` stops it), so the learner can
poke at it.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from transitstream.config import Settings
from transitstream.console import make_console
from transitstream.db.migrate import connect
from transitstream.infra import stack
from transitstream.infra.report import memory_line, status_table
from transitstream.services import SERVICES
from transitstream.simulate import RunSummary, SimParams, run
from transitstream.simulate.progress import summary_table
from transitstream.topic_reader import read_topic

CATCH_UP_S = 60.0  # the most the demo waits for the read models to show the fleet's last fixes
READ_MODELS = ("vehicle_state", "stop_eta", "vehicle_anomaly")


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


def fleet_vehicles(summary: RunSummary) -> list[str]:
    return [str(v["vehicle_id"]) for v in summary.vehicles]


def caught_up(conn: psycopg.Connection, summary: RunSummary) -> bool:
    """The fleet's freshest fixes (from the window's last ticks) are in `vehicle_state`.

    The stream job and the projectors keep each partition in order, so once the last fixes
    landed, everything before them has too. (Not "every vehicle at the end": a bus whose block
    ends inside the window stops reporting before it.)"""
    last = (summary.window_end_ms or 0) - 2 * summary.params.report_every_s * 1000
    row = conn.execute(
        "SELECT count(*) FROM vehicle_state WHERE vehicle_id = ANY(%s)"
        " AND event_time >= to_timestamp(%s / 1000.0)",
        [fleet_vehicles(summary), last],
    ).fetchone()
    return row is not None and row[0] > 0


def wait_for_read_models(settings: Settings, summary: RunSummary, console: Console) -> float | None:
    """Seconds until the read models caught up with the fleet (stream job, then projectors);
    None if they did not within CATCH_UP_S."""
    start = time.monotonic()
    with connect(settings) as conn:
        conn.autocommit = True
        while time.monotonic() - start < CATCH_UP_S:
            if caught_up(conn, summary):
                return time.monotonic() - start
            time.sleep(1.0)
    console.print(
        f"  [yellow]the read models had not caught up after {CATCH_UP_S:.0f} s[/]: "
        "`transitstream infra status` and `transitstream doctor` show what is slow or down "
        "(a stream job catching up on a large backlog in the log takes longer)"
    )
    return None


def read_model_counts(conn: psycopg.Connection) -> Table:
    table = Table(title="What the read models hold (Postgres)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name in READ_MODELS:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
        row = conn.execute(query).fetchone()
        table.add_row(name, f"{row[0] if row else 0:,}")
    return table


def busiest_stop(conn: psycopg.Connection, ahead_min: int = 30) -> str | None:
    """The stop with the most buses due in the next `ahead_min` minutes: where the board shows a
    full departure table on first open, instead of asking a newcomer to pick among 1,163 stops."""
    row = conn.execute(
        "SELECT stop_id FROM stop_eta"
        " WHERE predicted_time BETWEEN now() AND now() + make_interval(mins => %s)"
        " GROUP BY stop_id ORDER BY count(DISTINCT vehicle_id) DESC, stop_id LIMIT 1",
        (ahead_min,),
    ).fetchone()
    return str(row[0]) if row else None


def demo(settings: Settings, params: SimParams, console: Console | None = None) -> RunSummary:
    console = console or make_console()
    console.rule("1. the native stack")
    rows = stack.up(settings, report=lambda line: console.print(f"  {line}"))
    console.print(status_table(rows))
    console.print(memory_line(rows))
    console.rule("2. the pipeline: ingestor, stream job (Spark), projectors, read API")
    start_services(settings, console)
    console.print(status_table(stack.status(settings, SERVICES), title="TransitStream services"))
    board = f"{settings.api.url}/"
    console.print(f"\n  [bold]live departure board and map: {board}[/] (open it now)\n")
    console.rule("3. a simulated fleet reporting to it")
    summary = run(params, settings=settings, console=console)
    console.print(summary_table(summary))
    console.print("  waiting for the stream job and the projectors to catch up ...")
    waited = wait_for_read_models(settings, summary, console)
    if waited is not None:
        console.print(f"  caught up in {waited:.0f} s")
    console.rule("4. what landed")
    console.print(topic_counts(settings))
    with connect(settings) as conn:
        conn.autocommit = True  # `now()` is each query's own time, as on a connection of its own
        console.print(read_model_counts(conn))
        stop = busiest_stop(conn)
    if stop is not None:  # `?stop=` opens the board on that stop's departures
        board = f"{settings.api.url}/?stop={stop}"
    console.print(
        f"ground truth: {summary.out_dir}\n"
        f"board: {board}\n"
        f"read API docs: {settings.api.url}/docs   "
        f"GTFS-realtime: {settings.api.url}/gtfs-rt/vehicle-positions?format=json\n"
        f"ingestor API docs: {settings.ingest.url}/docs   "
        f"Prometheus: {settings.prometheus.url}/targets   "
        f"registry: {settings.registry.url}/subjects\n"
        "everything keeps running: `transitstream infra down` (or `make down`) stops it."
    )
    return summary
