"""ETA accuracy against the simulator's ground truth, next to the two baselines.

Errors are grouped by the *true* horizon (true arrival - prediction time), not by each method's
predicted horizon, so the three methods are scored on exactly the same predictions in every
band. A prediction is scored only when its stop was reached later in the ground truth: a stop a
detour skipped has no true arrival, and one already reached (the map match was a few metres
behind) is not a prediction any more.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from transitstream.config import PredictSettings, Settings
from transitstream.evaluate.anomalies import AnomalyScore, score_anomalies
from transitstream.gtfs import Feed
from transitstream.predict import AnomalyEvent, Catalog, Prediction, Predictor
from transitstream.simulate import Arrival, SimParams, Simulation

BANDS: tuple[tuple[str, float, float], ...] = (
    ("0-5 min", 0.0, 300.0),
    ("5-10 min", 300.0, 600.0),
    ("10-20 min", 600.0, 1200.0),
    ("20+ min", 1200.0, math.inf),
)
METHODS = ("model", "timetable", "speed")
TruthKey = tuple[str, str, int]  # vehicle_id, trip_id, stop_sequence


@dataclass(frozen=True)
class BandStat:
    band: str
    method: str
    n: int
    mean_s: float
    p90_s: float


@dataclass
class EtaReport:
    stats: list[BandStat]
    scored: int  # predictions scored per method
    unscored: int  # per method: stop never reached, or already reached
    events: int
    seconds: float  # map matching + ETA (no baselines), for `events_per_s`
    anomalies: list[AnomalyScore] = field(default_factory=list)
    anomaly_counts: dict[str, int] = field(default_factory=dict)  # opens by kind, all rules
    notes: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else math.inf

    def stat(self, band: str, method: str) -> BandStat | None:
        return stat_of(self.stats, band, method)

    def model_wins(self) -> bool:
        """Ours beats both baselines on mean and p90 in every band that has data."""
        return model_wins(self.stats, METHODS[1:])


def stat_of(stats: list[BandStat], band: str, method: str) -> BandStat | None:
    return next((b for b in stats if b.band == band and b.method == method), None)


def model_wins(
    stats: list[BandStat], against: tuple[str, ...], min_n: int = 1, p90: bool = True
) -> bool:
    """The model has the lower mean (and p90, unless told not to) than each of `against` in
    every band where it has at least `min_n` scored predictions."""
    for band, _, _ in BANDS:
        ours = stat_of(stats, band, "model")
        if ours is None or ours.n < min_n:
            continue
        for other in against:
            base = stat_of(stats, band, other)
            if base is not None and (
                ours.mean_s >= base.mean_s or (p90 and ours.p90_s >= base.p90_s)
            ):
                return False
    return True


def band_of(horizon_s: float) -> str | None:
    for name, lo, hi in BANDS:
        if lo <= horizon_s < hi:
            return name
    return None


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default), q in [0, 1]."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def truth_index(arrivals: Iterable[Arrival]) -> dict[TruthKey, int]:
    return {(a.vehicle_id, a.trip_id, a.stop_sequence): a.true_ms for a in arrivals}


def simulation_truth(sim: Simulation) -> dict[TruthKey, int]:
    """Every true arrival of the planned trips, also those after the window's end.

    The ticks only report arrivals inside the window, and scoring against those alone would
    censor the long horizons: near the end, only the predictions whose bus came early would
    find their truth. Trips running at the window's end are planned to their last stop, so
    their arrivals are all known.
    """
    return {
        (path.vehicle_id, run.trip.trip_id, visit.stop_sequence): sim.clock.event_ms(t)
        for path in sim.paths
        for t, run, visit in path.arrivals()
    }


class Scorer:
    """Absolute errors by (band, method), added as predictions stream by (they are many)."""

    def __init__(self, truth: dict[TruthKey, int]) -> None:
        self.truth = truth
        self.errors: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.unscored: dict[str, int] = defaultdict(int)

    def add(self, predictions: Iterable[Prediction]) -> None:
        truth, errors = self.truth, self.errors
        for p in predictions:
            true_ms = truth.get((p.vehicle_id, p.trip_id, p.stop_sequence))
            if true_ms is None or true_ms < p.prediction_time:
                self.unscored[p.method] += 1
                continue
            band = band_of((true_ms - p.prediction_time) / 1000.0)
            if band is not None:
                errors[(band, p.method)].append(abs(p.predicted_time - true_ms) / 1000.0)

    def stats(self) -> list[BandStat]:
        out = []
        for band, _, _ in BANDS:
            for method in METHODS:
                errs = self.errors.get((band, method), [])
                if errs:
                    mean = sum(errs) / len(errs)
                    out.append(BandStat(band, method, len(errs), mean, percentile(errs, 0.9)))
        return out


def accuracy(truth: dict[TruthKey, int], predictions: Iterable[Prediction]) -> list[BandStat]:
    """Mean and p90 absolute error (s) by true-horizon band and method."""
    scorer = Scorer(truth)
    scorer.add(predictions)
    return scorer.stats()


def evaluate_simulation(
    feed: Feed,
    params: SimParams,
    now: datetime | None = None,
    settings: PredictSettings | None = None,
) -> EtaReport:
    """Run the simulation in-process (no HTTP), feed its good events in event order through the
    predictor and the baselines, and score every prediction against the true arrivals."""
    sim = Simulation.build(feed, params, now=now)
    truth = simulation_truth(sim)
    ticks: list[tuple[int, list[dict[str, Any]]]] = []
    for tick in sim.ticks():
        good = [item for item, kind in zip(tick.items, tick.kinds, strict=True) if kind is None]
        ticks.append((tick.event_ms, good))
    catalog = Catalog(feed)
    predictor = Predictor(catalog, settings, baselines=True)
    scorer = Scorer(truth)
    found: list[AnomalyEvent] = []
    for tick_ms, events in ticks:
        for e in events:
            res = predictor.process(e)
            scorer.add(res.predictions)
            scorer.add(res.baselines)
            found += res.anomalies
        found += predictor.check_bunching(tick_ms)
    timed = Predictor(catalog, settings)  # the same work without baselines, timed alone
    n = sum(len(events) for _, events in ticks)
    start = time.perf_counter()
    for _, events in ticks:
        for e in events:
            timed.process(e)
    seconds = time.perf_counter() - start
    counts: dict[str, int] = defaultdict(int)
    for a in found:
        if a.status != "close":
            counts[a.kind] += 1
    stats = scorer.stats()
    scored = sum(b.n for b in stats if b.method == "model")
    return EtaReport(
        stats=stats,
        scored=scored,
        unscored=scorer.unscored.get("model", 0),
        events=n,
        seconds=seconds,
        anomalies=score_anomalies(sim.anomalies, found),
        anomaly_counts=dict(sorted(counts.items())),
        notes=[sim.clock.describe(), *sim.notes],
    )


def report_table(report: EtaReport) -> Table:
    table = Table(title="ETA absolute error (s) by true horizon: mean / p90")
    table.add_column("band")
    table.add_column("n", justify="right")
    for method in METHODS:
        table.add_column(method, justify="right")
    for band, _, _ in BANDS:
        cells = [report.stat(band, m) for m in METHODS]
        if all(c is None for c in cells):
            continue
        n = next(c.n for c in cells if c is not None)
        table.add_row(
            band,
            str(n),
            *("-" if c is None else f"{c.mean_s:.0f} / {c.p90_s:.0f}" for c in cells),
        )
    return table


def print_report(report: EtaReport, console: Console) -> None:
    for note in report.notes:
        console.print(f"[dim]{note}[/]")
    console.print(report_table(report))
    console.print(
        f"{report.scored} predictions scored per method ({report.unscored} not: stop skipped or "
        f"already reached); {report.events} events, map match + ETA "
        f"{report.events_per_s:,.0f} events/s on one core"
    )
    verdict = "[green]beats both baselines in every band[/]"
    console.print(verdict if report.model_wins() else "[red]does NOT beat both baselines[/]")
    for score in report.anomalies:
        console.print(
            f"anomaly {score.kind:9} injected {score.injected}  found {score.found}  "
            f"false positives {score.false_positives}"
        )
    other = ", ".join(f"{k} {v}" for k, v in report.anomaly_counts.items())
    console.print(f"opened (all rules): {other or 'none'}")


def evaluate_timetable_window(
    settings: Settings,
    *,
    vehicles: int | None = None,
    duration_s: float | None = None,
    speedup: float | None = None,
    seed: int | None = None,
    start: str = "07:00",
) -> EtaReport:
    """The standard evaluation: a window of the feed's busiest weekday (so results do not
    depend on today's date), simulated without HTTP; None keeps the Settings default."""
    from transitstream.gtfs import default_service_date, load_feed
    from transitstream.simulate.clock import parse_hhmm

    feed = load_feed(settings.gtfs_path)
    params = SimParams.from_settings(
        settings.simulate,
        vehicles=vehicles,
        duration_s=duration_s,
        speedup=speedup,
        seed=seed,
        start_s=parse_hhmm(start),
        template_date=default_service_date(feed),
        realtime=False,
    )
    return evaluate_simulation(feed, params, settings=settings.predict)
