"""The `transitstream` command. Errors of ours print their fix, never a traceback."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.text import Text

from transitstream.config import get_settings
from transitstream.console import MARKUP, command_group, make_console
from transitstream.errors import TransitStreamError
from transitstream.evaluate.command import eval_app
from transitstream.infra.report import memory_line, status_hint, status_table
from transitstream.project.command import project_app
from transitstream.simulate.command import simulate

app = typer.Typer(
    rich_markup_mode=MARKUP,
    help="TransitStream: real-time transit telemetry in, arrival predictions out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
infra_app = command_group("The native stack: Kafka (KRaft), schema registry, Postgres, Prometheus.")
db_app = command_group("The read-model database.")
ingest_app = command_group("The ingestor: GPS fixes over HTTP into Kafka.")
app.add_typer(infra_app, name="infra")
app.add_typer(db_app, name="db")
app.command("simulate")(simulate)
app.add_typer(ingest_app, name="ingest")
app.add_typer(eval_app, name="eval")
stream_app = command_group("Spark Structured Streaming jobs: enrich, ETA, anomalies.")
app.add_typer(stream_app, name="stream")
app.add_typer(project_app, name="project")
console = make_console()


def _say(line: str) -> None:
    console.print(f"  {line}")


@infra_app.command("up")
def infra_up() -> None:
    """Start every part that is not running, wait until each is ready, print where it runs."""
    from transitstream.infra import stack

    settings = get_settings()
    console.print(f"starting the native stack (state in {settings.state_dir}) ...")
    rows = stack.up(settings, report=_say)
    console.print(status_table(rows))
    console.print(memory_line(rows))


@infra_app.command("down")
def infra_down() -> None:
    """Stop the processes `infra up` started (by their recorded PIDs); data is kept."""
    from transitstream.infra import stack

    stopped = stack.down(get_settings(), report=_say)
    console.print(f"stopped {len(stopped)} process(es); data kept in {get_settings().state_dir}")


@infra_app.command("status")
def infra_status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """What runs where, whether it answers, and its resident memory. Exit 1 if not all ready."""
    from transitstream.infra import stack

    rows = stack.status(get_settings())
    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        console.print(status_table(rows))
        console.print(memory_line(rows))
        hint = status_hint(rows)
        if hint:
            console.print(hint, soft_wrap=True, markup=False)
    if not all(r.ready for r in rows):
        raise typer.Exit(1)


@infra_app.command("topics")
def infra_topics() -> None:
    """Create or converge the pipeline's topics from their one declaration (idempotent)."""
    from transitstream.infra.kafka import admin
    from transitstream.infra.topics import declared_topics, ensure_topics

    settings = get_settings()
    specs = declared_topics(settings)
    report = ensure_topics(admin(settings), specs)
    for spec in specs:
        verb = "created" if spec.name in report.created else "ok"
        console.print(
            f"  {spec.name:28} {spec.partitions} partition(s)  {spec.cleanup_policy:8} {verb}"
        )


@infra_app.command("jars")
def infra_jars() -> None:
    """Resolve the pinned Kafka jars from Maven Central into the jars folder (idempotent)."""
    from transitstream.infra.java import fetch_jars

    folder = fetch_jars(get_settings())
    console.print(f"jars in {folder}: {len(list(folder.glob('*.jar')))}")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations to the read-model database."""
    from transitstream.db.migrate import migrate

    applied = migrate(get_settings())
    console.print("applied: " + ", ".join(applied) if applied else "database is up to date")


@ingest_app.command("serve")
def ingest_serve(
    host: Annotated[str | None, typer.Option(help="listen address [Settings.ingest.host]")] = None,
    port: Annotated[int | None, typer.Option(help="port [Settings.ingest.port, 8000]")] = None,
) -> None:
    """Run the ingestor in the foreground (Ctrl+C stops it cleanly).

    Devices POST to /v1/positions and /v1/positions/batch with `Authorization: Bearer <token>`;
    the development token is `transitstream-dev-token` (set TRANSITSTREAM_INGEST_TOKENS).
    """
    from transitstream.ingest.serve import serve

    serve(host, port)


@app.command("serve")
def serve_api(
    host: Annotated[str | None, typer.Option(help="listen address [Settings.api.host]")] = None,
    port: Annotated[int | None, typer.Option(help="port [Settings.api.port, 8080]")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="worker processes [Settings.api.workers, 1]"),
    ] = None,
) -> None:
    """Run the read API in the foreground: /eta, /vehicles, /ws/live, /gtfs-rt/*, the board.

    The live departure board is at /, the OpenAPI page at /docs. Ctrl+C stops it cleanly.
    Each worker process has its own Postgres pool, poller and cache.
    """
    from transitstream.serve.serve import serve

    serve(host, port, workers=workers)


@app.command()
def demo(
    vehicles: Annotated[int | None, typer.Option("--vehicles", "-n", help="fleet size")] = None,
    speedup: Annotated[float | None, typer.Option(help="sim seconds per wall second")] = None,
    duration: Annotated[float | None, typer.Option(help="wall seconds the fleet reports")] = None,
) -> None:
    """Run the live pipeline (ingestor, stream job, projectors, API) and a simulated fleet.

    Starts the stack and the services, prints the live board's address, runs the fleet, then
    reports what landed in Kafka and Postgres. Everything keeps running afterwards
    (`transitstream infra down` stops it). Defaults come from Settings
    (TRANSITSTREAM_SIMULATE__*). Exit 1 if a batch was lost.
    """
    from transitstream.demo import demo as run_demo
    from transitstream.simulate import SimParams

    settings = get_settings()
    params = SimParams.from_settings(
        settings.simulate, vehicles=vehicles, speedup=speedup, duration_s=duration
    )
    if not run_demo(settings, params, console).ok:
        raise typer.Exit(1)


@stream_app.command("run")
def stream_run(
    job: Annotated[str, typer.Argument(help="all | enrich | eta | anomalies")] = "all",
    available_now: Annotated[
        bool, typer.Option("--available-now", help="process what is in the topic, then stop")
    ] = False,
    timeout: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus port [Settings.spark.exporter_port, 9405]")
    ] = None,
) -> None:
    """Run a stream job: positions ⋈ routes, map matching, ETAs and anomalies, written to
    Kafka exactly once. Ctrl+C (or SIGTERM) stops it cleanly; it resumes from its checkpoint.

    `all` (the default) computes the three outputs in one query; the others keep one topic
    each. Progress metrics: http://127.0.0.1:<Settings.spark.exporter_port>/metrics.
    """
    from transitstream.stream.run import run_job

    settings = get_settings()
    if metrics_port:
        settings.spark.exporter_port = metrics_port
    result = run_job(settings, job, available_now=available_now, timeout_s=timeout)
    console.print(
        f"{result.query}: {result.batches} batch(es), {result.input_rows:,} rows in, "
        f"{result.late_rows} too late; written: "
        + ", ".join(f"{k} {v:,}" for k, v in result.rows_written.items())
        + (
            f"; {result.skipped_replays} replayed batch(es) skipped"
            if result.skipped_replays
            else ""
        )
    )


@app.command()
def doctor() -> None:
    """Check Java, jars, binaries, ports, disk, each service, topics and subjects; print fixes."""
    from transitstream.infra.doctor import run_checks

    checks = run_checks(get_settings())
    for c in checks:
        mark = "[green]ok  [/]" if c.ok else "[red]FAIL[/]"
        console.print(f"{mark} {c.name:24} {c.detail}")
        if not c.ok and c.fix:
            console.print(f"       [bold]fix:[/] {c.fix}")
    failed = [c for c in checks if not c.ok]
    console.print(f"\n{len(checks) - len(failed)} ok, {len(failed)} problem(s)")
    if failed:
        raise typer.Exit(1)


def error_text(exc: TransitStreamError) -> Text:
    """`error: <message>` as written: not parsed as Rich markup (a message may contain
    `[...]`), and printed without wrapping, so each line of it stays one line to read or grep."""
    return Text.assemble(("error:", "red"), " ", str(exc))


def main() -> None:
    try:
        app()
    except TransitStreamError as exc:
        make_console(stderr=True, soft_wrap=True).print(error_text(exc), highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
