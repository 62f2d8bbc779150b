"""`transitstream eval eta | job`: the predictor and the deployed job against ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from transitstream.config import get_settings
from transitstream.console import command_group, make_console
from transitstream.errors import TransitStreamError

eval_app = command_group("Measure the predictor against simulated ground truth.")
console = make_console()


@eval_app.command("eta")
def eval_eta(
    vehicles: Annotated[int, typer.Option("--vehicles", "-n", help="fleet size")] = 20,
    duration: Annotated[float, typer.Option(help="wall seconds (window = x speedup)")] = 720.0,
    speedup: Annotated[float, typer.Option(help="sim seconds per wall second")] = 10.0,
    seed: Annotated[int, typer.Option(help="seed of every random choice")] = 42,
    start: Annotated[str, typer.Option(help="window start, HH:MM of the service day")] = "07:00",
    out: Annotated[Path | None, typer.Option(help="save the accuracy plot (PNG) here")] = None,
) -> None:
    """ETA accuracy (ours vs timetable vs distance/speed) and anomaly recall on a simulated run
    of the feed's busiest weekday, in-process (no stack needed). Exit 1 if ours loses a band."""
    from transitstream.evaluate.eta import evaluate_timetable_window, print_report
    from transitstream.evaluate.plot import save_accuracy_plot

    settings = get_settings()
    report = evaluate_timetable_window(
        settings, vehicles=vehicles, duration_s=duration, speedup=speedup, seed=seed, start=start
    )
    print_report(report, console)
    if out is not None:
        console.print(f"plot: {save_accuracy_plot(report, out)}")
    if not report.model_wins():
        raise typer.Exit(1)


@eval_app.command("job")
def eval_job(
    run_dir: Annotated[
        Path, typer.Argument(help="a simulated run's folder (holds arrivals.csv), e.g. from demo")
    ],
) -> None:
    """Score the ETAs the stream job wrote to Kafka for a simulated run's vehicles against the
    run's true arrivals, next to the timetable on the same predictions. Exit 1 if ours has the
    larger mean error in a band (of 100+ predictions)."""
    from rich.table import Table

    from transitstream.evaluate.eta import BANDS
    from transitstream.evaluate.job_output import score_job_output

    if not (run_dir / "arrivals.csv").is_file():
        raise TransitStreamError(
            f"{run_dir} has no arrivals.csv: pass a run folder from "
            "`.transitstream/state/simulate/` (each `simulate` or `demo` run writes one)"
        )
    score = score_job_output(get_settings(), run_dir)
    table = Table(title=f"the job's ETAs, absolute error (s): mean / p90 ({score.records:,} read)")
    for column in ("band", "n", "job (stop.eta.v1)", "timetable"):
        table.add_column(column, justify="left" if column == "band" else "right")
    for band, _, _ in BANDS:
        ours, timetable = score.stat(band, "model"), score.stat(band, "timetable")
        if ours is not None:
            other = f"{timetable.mean_s:.0f} / {timetable.p90_s:.0f}" if timetable else "-"
            table.add_row(band, f"{ours.n:,}", f"{ours.mean_s:.0f} / {ours.p90_s:.0f}", other)
    console.print(table)
    if score.scored == 0:
        console.print("[yellow]nothing scored: has the stream job run over this run's events?[/]")
        raise typer.Exit(1)
    if not score.beats_timetable(min_n=100, p90=False):
        console.print("[red]the job's mean error is not below the timetable's in every band[/]")
        raise typer.Exit(1)
    console.print("[green]the job's mean error is below the timetable's in every band[/]")
