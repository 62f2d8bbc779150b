"""The stream job's per-route logic without Spark: the same rows from a restored state (what a
replayed micro-batch relies on), one enriched row per used fix, anomaly ids stable."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from transitstream.config import PredictSettings
from transitstream.gtfs import load_feed
from transitstream.predict import Catalog
from transitstream.simulate import SimParams, Simulation
from transitstream.stream.brain import ANOMALY, ENRICHED, ETA, RouteBrain, anomaly_id
from transitstream.stream.jobs import DLQ, dead_letter

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def route_events() -> tuple[str, list[dict[str, object]]]:
    sim = Simulation.build(
        load_feed(), SimParams(vehicles=6, duration_s=60, speedup=20, seed=4), now=NOW
    )
    events = [
        item
        for tick in sim.ticks()
        for item, kind in zip(tick.items, tick.kinds, strict=True)
        if kind is None
    ]
    route = str(events[0]["route_id"])
    return route, [e for e in events if e["route_id"] == route]


def test_a_restored_state_gives_the_same_rows() -> None:
    catalog, settings = Catalog(load_feed()), PredictSettings()
    _, events = route_events()
    half = len(events) // 2
    straight = RouteBrain(catalog, settings)
    first = straight.process(events[:half])
    second = straight.process(events[half:])

    restarted = RouteBrain.from_json(None, catalog, settings)
    assert restarted.process(events[:half]) == first
    snapshot = restarted.to_json()
    replayed = RouteBrain.from_json(snapshot, catalog, settings)  # a replayed micro-batch
    assert replayed.process(events[half:]) == second
    assert RouteBrain.from_json(snapshot, catalog, settings).to_json() == snapshot


def test_rows_per_kind() -> None:
    brain = RouteBrain(Catalog(load_feed()), PredictSettings())
    _, events = route_events()
    rows = brain.process(events)
    enriched = [r for r in rows if r.kind == ENRICHED]
    assert 0 < len(enriched) <= len(events)
    assert len({r.value["event_id"] for r in enriched}) == len(enriched)
    assert all(r.key == r.value["vehicle_id"] for r in enriched)
    etas = [r for r in rows if r.kind == ETA]
    assert etas and all(r.value["predicted_time"] >= r.value["prediction_time"] for r in etas)
    assert all(r.key == r.value["stop_id"] for r in etas)
    for r in (r for r in rows if r.kind == ANOMALY):
        assert r.value["state"] in {"open", "closed", "instant"}


def test_anomaly_ids_match_on_open_and_close() -> None:
    assert anomaly_id("bus-1", "stalled", 1000) == anomaly_id("bus-1", "stalled", 1000)
    assert anomaly_id("bus-1", "stalled", 1000) != anomaly_id("bus-1", "stalled", 2000)


def test_dead_letters_keep_the_raw_bytes() -> None:
    row = {
        "dlq_reason": "bad magic byte",
        "event_id": None,
        "vehicle_id": None,
        "raw_value": b"\x07garbage",
        "event_time": pd.Timestamp("2026-11-25T18:00:00Z"),
    }
    out = dead_letter(row)
    assert out.kind == DLQ and out.value["code"] == "decode_error"
    assert out.value["raw_b64"] == "B2dhcmJhZ2U="
    assert out.value["event_time"] == int(NOW.timestamp() * 1000)
    unknown = dead_letter({**row, "event_id": "e1", "vehicle_id": "bus-9"})
    assert unknown.value["code"] == "unknown_route" and unknown.key == "bus-9"
