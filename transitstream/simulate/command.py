"""`transitstream simulate`: the flags, turned into `SimParams`, handed to `run()`."""

from __future__ import annotations

import signal
import time
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from transitstream.config import Settings, SimulateSettings, get_settings
from transitstream.console import make_console
from transitstream.gtfs import load_feed
from transitstream.simulate.badevents import NOT_JSON, all_kinds
from transitstream.simulate.clock import parse_hhmm
from transitstream.simulate.generate import Simulation
from transitstream.simulate.params import SimParams
from transitstream.simulate.progress import summary_table
from transitstream.simulate.run import run

_D = SimulateSettings()
"""Defaults shown in --help; TRANSITSTREAM_SIMULATE__* variables override them at run time."""


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not YYYY-MM-DD", param_hint=flag) from None


def _rates(values: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values or []:
        kind, _, rate = item.partition("=")
        if kind not in all_kinds():
            raise typer.BadParameter(f"{kind!r}: known kinds are {', '.join(all_kinds())}")
        try:
            out[kind] = float(rate)
        except ValueError:
            raise typer.BadParameter(
                f"{item!r} is not KIND=RATE", param_hint="--bad-kind"
            ) from None
    return out


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def simulate(
    vehicles: Annotated[
        int | None, typer.Option("--vehicles", "-n", help=f"Fleet size [{_D.vehicles}].")
    ] = None,
    speedup: Annotated[
        float | None, typer.Option(help=f"Sim seconds per wall second, >= 1 [{_D.speedup:g}].")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(help=f"Wall seconds; 0 = until Ctrl+C, speedup 1 only [{_D.duration_s:g}]."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Sim window start, HH:MM of the service day (default: ends at now)."),
    ] = None,
    report_every: Annotated[
        float | None,
        typer.Option(help=f"Sim seconds between a vehicle's fixes [{_D.report_every_s:g}]."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help=f"Seed of every random choice [{_D.seed}].")
    ] = None,
    service_date: Annotated[
        str | None, typer.Option(help="Timetable date YYYY-MM-DD (default: see above).")
    ] = None,
    run_date: Annotated[
        str | None, typer.Option(help="Date the event times fall on (default: today).")
    ] = None,
    detours: Annotated[
        int | None, typer.Option(help=f"Detours, 300-800 m off route [{_D.detours}].")
    ] = None,
    stalls: Annotated[
        int | None, typer.Option(help=f"Stalls of 5-15 sim min [{_D.stalls}].")
    ] = None,
    jumps: Annotated[
        int | None, typer.Option(help=f"Single fixes 2-5 km off [{_D.jumps}].")
    ] = None,
    bad_rate: Annotated[
        float | None, typer.Option(help=f"Bad events per good one, all kinds [{_D.bad_rate:g}].")
    ] = None,
    bad_kind: Annotated[
        list[str] | None,
        typer.Option(help=f"KIND=RATE for one kind (repeatable): {', '.join(all_kinds())}."),
    ] = None,
    not_json_rate: Annotated[
        float | None,
        typer.Option(help=f"Chance per tick of a non-JSON body [{_D.not_json_rate:g}]."),
    ] = None,
    gps_sigma: Annotated[
        float | None, typer.Option(help=f"GPS noise sigma, metres [{_D.gps_sigma_m:g}].")
    ] = None,
    replicate: Annotated[
        bool,
        typer.Option(
            "--replicate", help="More vehicles than blocks in service: add shifted copies."
        ),
    ] = False,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast", help="Do not pace: send the window (ending now) as fast as possible."
        ),
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Ground-truth folder.")] = None,
    token: Annotated[
        str | None, typer.Option(help="Device token (default: the first one).")
    ] = None,
    max_retry_seconds: Annotated[
        float | None,
        typer.Option(help=f"Give a batch up after retrying this long [{_D.max_retry_s:g}]."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Generate the events without posting; print counts and rate."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No live line; the summary only.")] = False,
    gtfs: Annotated[
        Path | None,
        typer.Option(
            help="GTFS feed, a folder or a zip, for the simulator only; the stream job, the read "
            "API and eval read Settings.gtfs_path [the bundled CARTA feed]."
        ),
    ] = None,
) -> None:
    """Drive a fleet along the GTFS feed's trips and post its GPS fixes to the ingestor.

    Time: the simulated clock runs SPEEDUP times faster than the wall clock for DURATION wall
    seconds, so it covers DURATION x SPEEDUP seconds of a service day (default 120 s x 10 = 20 min).
    The timetable is the feed's for today, or for its busiest date of today's kind (weekday,
    Saturday, Sunday) when the feed does not cover today; event times are put on today's date in the
    agency's timezone. By default the window ENDS at the wall-clock now (it starts DURATION x
    (SPEEDUP - 1) seconds in the past), so no event is ever ahead of the clock: the ingestor rejects
    events more than 2 minutes in the future. --start HH:MM places the window yourself; if that
    would reach into the future, the run date moves back a day. Events over 2 days old are refused.

    Ground truth (true stop arrivals, injected anomalies, bad events and what the ingestor answered,
    run.json with every count and the feed used) goes to --out, by default
    `<state_dir>/simulate/<run-id>/`.
    The same --seed and flags give the same events (for the same window). The defaults listed below
    come from Settings (TRANSITSTREAM_SIMULATE__VEHICLES=50 etc.).
    """
    settings = get_settings()
    stack_feed = settings.gtfs_path
    if gtfs is not None:  # for this run only; TRANSITSTREAM_GTFS_PATH sets it for every command
        settings = settings.model_copy(update={"gtfs_path": gtfs.expanduser().resolve()})
    rates = _rates(bad_kind)
    not_json = rates.pop(NOT_JSON, not_json_rate)
    params = SimParams.from_settings(
        settings.simulate,
        vehicles=vehicles,
        speedup=speedup,
        duration_s=duration,
        start_s=parse_hhmm(start) if start else None,
        report_every_s=report_every,
        seed=seed,
        template_date=_date(service_date, "--service-date"),
        run_date=_date(run_date, "--run-date"),
        detours=detours,
        stalls=stalls,
        jumps=jumps,
        bad_rate=bad_rate,
        bad_rates=rates,
        not_json_rate=not_json,
        gps_sigma_m=gps_sigma,
        replicate=replicate,
        realtime=not fast,
        out_dir=out,
    )
    console = make_console()
    if dry_run:
        _dry_run(params, console, settings)
        return
    warning = feed_warning(settings.gtfs_path, stack_feed)
    if warning:
        make_console(stderr=True, soft_wrap=True).print(warning, markup=False, highlight=False)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        summary = run(
            params, settings=settings, token=token, max_retry_s=max_retry_seconds, quiet=quiet
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    console.print(summary_table(summary))
    if not summary.ok:
        raise typer.Exit(1)


def feed_warning(feed: Path, stack_feed: Path) -> str:
    """One line when --gtfs names a feed the rest of the stack does not read, else ""."""
    if feed.resolve() == stack_feed.expanduser().resolve():
        return ""
    return (
        f"warning: --gtfs {feed} feeds only the simulator; the stream job, the read API and eval "
        f"read Settings.gtfs_path ({stack_feed}): set TRANSITSTREAM_GTFS_PATH={feed} for the "
        "whole stack"
    )


def _dry_run(params: SimParams, console: Console, settings: Settings) -> None:
    feed = load_feed(settings.gtfs_path)
    t0 = time.perf_counter()
    sim = Simulation.build(feed, params, max_past_s=settings.ingest.max_past_s)
    built = time.perf_counter() - t0
    events = items = 0
    t1 = time.perf_counter()
    for tick in sim.ticks():
        events += len(tick.fixes)
        items += len(tick.items) + len(tick.raw_bodies)
    gen = time.perf_counter() - t1
    console.print(sim.clock.describe())
    for note in sim.notes:
        console.print(f"note: {note}")
    console.print(
        f"{len(sim.paths)} vehicles, {events} events ({items} items with bad ones), "
        f"{len(sim.anomalies)} anomalies; planned in {built:.2f} s, generated in {gen:.2f} s "
        f"= {events / gen if gen > 0 else 0:,.0f} events/s"
    )
