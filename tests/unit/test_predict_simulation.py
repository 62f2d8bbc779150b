"""Behaviour on a small seeded simulation: ETAs beat both baselines, faults are found, once each."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from transitstream.config import load_settings
from transitstream.evaluate.eta import BANDS, METHODS, EtaReport, evaluate_simulation
from transitstream.gtfs import Feed, default_service_date, load_feed
from transitstream.predict import AnomalyEvent, Catalog, Predictor
from transitstream.simulate import SimParams, Simulation

NOW = datetime(2026, 11, 25, 17, 46, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def feed() -> Feed:
    return load_feed(load_settings().gtfs_path)


@pytest.fixture(scope="module")
def params(feed: Feed) -> SimParams:
    """Eight buses for a sim hour of a weekday morning, one fault of each kind."""
    return SimParams(
        vehicles=8,
        duration_s=360,
        speedup=10,
        start_s=8 * 3600,
        seed=3,
        template_date=default_service_date(feed),
        realtime=False,
        detours=1,
        stalls=1,
        jumps=1,
    )


@pytest.fixture(scope="module")
def report(feed: Feed, params: SimParams) -> EtaReport:
    return evaluate_simulation(feed, params, now=NOW)


def test_our_etas_beat_both_baselines_in_every_band(report: EtaReport) -> None:
    for band, _, _ in BANDS:
        ours = report.stat(band, "model")
        assert ours is not None and ours.n > 1000, band
        for other in METHODS[1:]:
            base = report.stat(band, other)
            assert base is not None and base.n == ours.n
            assert ours.mean_s < base.mean_s, (band, other)
            assert ours.p90_s < base.p90_s, (band, other)
    assert report.model_wins()
    assert report.unscored < 0.05 * report.scored  # stops skipped or reached: a few only


def test_every_injected_fault_is_found_and_nothing_else(report: EtaReport) -> None:
    assert {s.kind: (s.injected, s.found, s.false_positives) for s in report.anomalies} == {
        "detour": (1, 1, 0),
        "stall": (1, 1, 0),
        "jump": (1, 1, 0),
    }


def test_an_anomaly_never_opens_twice_without_closing(feed: Feed, params: SimParams) -> None:
    sim = Simulation.build(feed, params, now=NOW)
    predictor = Predictor(Catalog(feed))
    events: list[AnomalyEvent] = []
    for tick in sim.ticks():
        for item, kind in zip(tick.items, tick.kinds, strict=True):
            if kind is None:
                events += predictor.process(item).anomalies
        events += predictor.check_bunching(tick.event_ms)
    assert len([e for e in events if e.status == "open"]) >= 3
    state: dict[tuple[str, str], str] = defaultdict(lambda: "close")
    for e in events:
        key = (e.vehicle_id, e.kind)
        if e.status == "instant":
            assert e.kind == "jump"
            continue
        assert e.status != state[key], f"{e.kind} of {e.vehicle_id} {e.status}s twice"
        state[key] = e.status
