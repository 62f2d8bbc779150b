"""`transitstream project run | rebuild | checksum`: the projectors from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from transitstream.config import get_settings
from transitstream.console import command_group, make_console

project_app = command_group("Projectors: Kafka topics into the Postgres read models (CQRS).")
console = make_console()


@project_app.command("run")
def project_run(
    name: Annotated[str, typer.Argument(help="all | vehicles | etas | anomalies")] = "all",
    max_messages: Annotated[int | None, typer.Option(help="stop after this many records")] = None,
    idle_timeout: Annotated[
        float | None, typer.Option(help="stop after this many seconds without a record")
    ] = None,
    to_end: Annotated[
        bool, typer.Option("--to-end", help="stop once every partition is read to its end")
    ] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="/metrics and /healthz [Settings.project.metrics_port]")
    ] = None,
) -> None:
    """Project the topics into vehicle_state, stop_eta and vehicle_anomaly: batched upserts and
    offsets in one Postgres transaction. Ctrl+C (or SIGTERM) finishes the batch and stops."""
    from transitstream.project.run import run

    settings = get_settings()
    if metrics_port:
        settings.project.metrics_port = metrics_port
    result = run(
        settings,
        name,
        max_messages=max_messages,
        idle_timeout_s=idle_timeout,
        stop_at_end=to_end,
        serve_metrics=True,
    )
    console.print(
        f"{result.records:,} record(s) in {result.batches} batch(es); rows changed: "
        + (", ".join(f"{k} {v:,}" for k, v in result.upserted.items()) or "none")
        + f"; {result.dead_letters} dead letter(s); {result.stale_deleted} stale ETA(s) removed"
    )


@project_app.command("rebuild")
def project_rebuild(
    name: Annotated[str, typer.Argument(help="all | vehicles | etas | anomalies")] = "all",
) -> None:
    """Replay the topics from offset 0 into shadow tables, then swap them in (one transaction);
    the API keeps serving the old tables until the swap."""
    from transitstream.project.rebuild import rebuild

    result = rebuild(get_settings(), name)
    console.print(
        f"rebuilt from {result.records:,} record(s) in {result.seconds:.1f} s "
        f"({result.rate:,.0f} records/s); offsets now {len(result.offsets)} partition(s)"
    )


@project_app.command("checksum")
def project_checksum(
    name: Annotated[str, typer.Argument(help="all | vehicles | etas | anomalies")] = "all",
    prefix: Annotated[str | None, typer.Option(help="only vehicle ids starting with this")] = None,
) -> None:
    """An order-independent digest per read model (business columns only): equal after a
    rebuild to what the live projection produced."""
    from transitstream.db.migrate import connect
    from transitstream.project.checksum import table_checksums

    with connect(get_settings()) as conn:
        for table, (rows, digest) in table_checksums(conn, name, prefix=prefix).items():
            console.print(f"  {table:16} {rows:>9,} rows  {digest}")
