"""The run loop: generate a tick, wait for its moment on the wall clock, post it, record truth.

`run()` is what the CLI, the integration tests, the notebooks and `make demo` call. It returns a
`RunSummary` and never raises for a delivery problem (the summary says `ok=False` and why), so a
caller decides what a failed run means; it only raises when the run cannot start (bad settings,
no vehicle in service). Ctrl+C (and SIGTERM, via the CLI) stops it cleanly with the truth written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from transitstream.config import IngestSettings, Settings, get_settings
from transitstream.gtfs import Feed, load_feed
from transitstream.simulate.client import IngestClient
from transitstream.simulate.generate import Simulation
from transitstream.simulate.params import SimParams
from transitstream.simulate.post import Poster
from transitstream.simulate.progress import LiveProgress
from transitstream.simulate.summary import Counts, RunSummary
from transitstream.simulate.truth import TruthWriter


def first_token(ingest: IngestSettings) -> str:
    """The first configured device token, in the order written.

    Not `next(iter(token_set()))`: a frozenset of strings iterates in a hash order that changes
    from one process to the next, so "first" would not be the first one written.
    """
    for token in ingest.tokens.get_secret_value().split(","):
        if token.strip():
            return token.strip()
    return ""


def default_out_dir(settings: Settings, run_id: str) -> Path:
    return settings.state_dir / "simulate" / run_id


def run(
    params: SimParams | None = None,
    *,
    settings: Settings | None = None,
    feed: Feed | None = None,
    client: IngestClient | None = None,
    token: str | None = None,
    now: datetime | None = None,
    max_retry_s: float | None = None,
    quiet: bool = False,
    console: Console | None = None,
    on_tick: Callable[[int, Counts], None] | None = None,
) -> RunSummary:
    """Drive the fleet against the ingestor at `settings.ingest.url`; see `SimParams`.

    `client` replaces the HTTP client (tests pass one over `httpx.MockTransport`); `now` fixes
    the clock the window is placed by (pacing still follows the real wall clock); `on_tick` is
    called after each tick with its index and the running counts.
    """
    settings = settings or get_settings()
    params = params or SimParams.from_settings(settings.simulate)
    feed = feed or load_feed(settings.gtfs_path)
    started = now or datetime.now(UTC)
    sim = Simulation.build(feed, params, now=started, max_past_s=settings.ingest.max_past_s)
    run_id = f"{started.astimezone(UTC):%Y%m%dT%H%M%SZ}-seed{params.seed}"
    out_dir = params.out_dir or default_out_dir(settings, run_id)
    truth = TruthWriter(out_dir)
    counts = Counts()
    live = LiveProgress(sim.tick_count, quiet, console)
    own_client = client is None
    if client is None:
        client = IngestClient(
            settings.ingest.url,
            token or first_token(settings.ingest),
            max_retry_s=max_retry_s or settings.simulate.max_retry_s,
            on_wait=live.message,
        )
    poster = Poster(
        client, counts, truth, settings.ingest.max_batch, settings.ingest.max_body_bytes
    )
    wall0 = time.time()
    ticks, last_event_ms, interrupted = 0, sim.clock.event_ms(sim.clock.start_s), False
    try:
        with live:
            for tick in sim.ticks():
                if params.realtime:
                    time.sleep(
                        max(0.0, sim.clock.due_wall(tick.sim_ms / 1000, wall0) - time.time())
                    )
                poster.tick(tick)
                truth.arrivals(tick.arrivals)
                ticks, last_event_ms = ticks + 1, tick.event_ms
                live.update(tick.sim_ms, counts, time.time() - wall0)
                if on_tick is not None:
                    on_tick(tick.index, counts)
                if counts.failure:
                    live.message(f"stopping: {counts.failure}")
                    break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if own_client:
            client.close()
        truth.flush()
    happened = [a for a in sim.anomalies if a.start_ms <= last_event_ms]
    truth.anomalies(happened)
    summary = RunSummary(
        run_id=run_id,
        out_dir=out_dir,
        files=truth.paths,
        params=params,
        template_date=str(sim.clock.template_date),
        run_date=str(sim.clock.run_date),
        timezone=sim.clock.timezone,
        gtfs_path=str(feed.source),
        window_start_ms=sim.clock.event_ms(sim.clock.start_s),
        window_end_ms=None if sim.clock.end_s is None else sim.clock.event_ms(sim.clock.end_s),
        vehicles=[
            {
                "vehicle_id": p.vehicle_id,
                "block_id": p.assignment.block_id,
                "shift_s": p.assignment.shift_s,
            }
            for p in sim.paths
        ],
        ticks=ticks,
        counts=counts,
        anomalies=happened,
        arrivals=truth.arrival_count,
        notes=[sim.clock.describe(), *sim.notes],
        elapsed_s=time.time() - wall0,
        interrupted=interrupted,
    )
    truth.run_json(summary.as_dict())
    truth.close()
    return summary
