"""The stream job's per-route logic without Spark: the same rows from a restored state (what a
replayed micro-batch relies on), one enriched row per used fix, anomaly ids stable."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import fastavro
import pandas as pd

from transitstream.config import PredictSettings, load_settings
from transitstream.gtfs import load_feed
from transitstream.predict import Catalog
from transitstream.schemas import load, topic_schemas
from transitstream.simulate import SimParams, Simulation
from transitstream.stream.brain import ANOMALY, ENRICHED, ETA, RouteBrain, anomaly_id
from transitstream.stream.encode import DLQ, OutputSchema, encode_value
from transitstream.stream.jobs import dead_letter
from transitstream.wire import parse_schema

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
ROW_BAD = {
    "dlq_reason": "bad magic byte",
    "event_id": None,
    "vehicle_id": None,
    "raw_value": b"\x07garbage",
    "event_time": pd.Timestamp("2026-11-25T18:00:00Z"),
}


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
    assert all(r.value["state"] in {"open", "closed", "instant"} for r in rows if r.kind == ANOMALY)


def test_an_anomaly_closes_under_the_id_it_opened_with_across_a_restored_state() -> None:
    """One stall, opened in one micro-batch and closed in a later one (the brain restored from
    its JSON state in between, as Spark's state store does): both records share the id."""
    sim = Simulation.build(
        load_feed(),
        SimParams(vehicles=6, duration_s=60, speedup=20, seed=4, detours=0, jumps=0, stalls=1),
        now=NOW,
    )
    (stall,) = sim.anomalies
    events = [
        item
        for tick in sim.ticks()
        for item, kind in zip(tick.items, tick.kinds, strict=True)
        if kind is None and item["route_id"] == stall.route_id
    ]
    catalog, settings = Catalog(load_feed()), PredictSettings()
    cut = next(i for i, e in enumerate(events) if int(e["ts"]) > stall.start_ms + 240_000)
    first = RouteBrain(catalog, settings)
    rows = first.process(events[:cut])
    rows += RouteBrain.from_json(first.to_json(), catalog, settings).process(events[cut:])
    stalled = [r.value for r in rows if r.kind == ANOMALY and r.value["kind"] == "stalled"]
    states = {a["state"]: a["anomaly_id"] for a in stalled if a["vehicle_id"] == stall.vehicle_id}
    assert set(states) == {"open", "closed"}, stalled
    assert states["open"] == states["closed"]
    opened = next(a for a in stalled if a["state"] == "open")
    assert states["open"] == anomaly_id(stall.vehicle_id, "stalled", opened["event_time"])


def test_dead_letters_keep_the_raw_bytes() -> None:
    row = ROW_BAD
    out = dead_letter(row)
    assert out.kind == DLQ and out.value["error_code"] == "decode_error"
    assert out.value["raw"] == b"\x07garbage" and out.value["source"] == "stream"
    assert out.value["receive_time"] == int(NOW.timestamp() * 1000)
    unknown = dead_letter({**row, "event_id": "e1", "vehicle_id": "bus-9"})
    assert unknown.value["error_code"] == "unknown_route" and unknown.key == "bus-9"


def test_rows_are_encoded_as_the_confluent_serializer_would_write_them() -> None:
    """Workers encode with fastavro; readers use confluent-kafka's AvroDeserializer."""
    settings = load_settings()
    names = topic_schemas(settings)
    for kind, topic in ((DLQ, settings.topics.position_dlq), (ETA, settings.topics.eta)):
        text = load(settings, names[topic])
        schema = OutputSchema(topic, 42, text)
        value = (
            dead_letter({**ROW_BAD, "event_id": "e1"}).value
            if kind == DLQ
            else {
                "stop_id": "s1",
                "stop_sequence": 3,
                "vehicle_id": "bus-1",
                "trip_id": "t1",
                "route_id": "4",
                "predicted_time": 1_795_000_060_000,
                "prediction_time": 1_795_000_000_000,
                "horizon_s": 60,
                "scheduled_time": None,
                "model": "segments-v1",
            }
        )
        data = encode_value(schema, value)
        assert data[:5] == b"\x00\x00\x00\x00\x2a"  # magic byte, schema id 42
        decoded = fastavro.schemaless_reader(io.BytesIO(data[5:]), parse_schema(text), None)
        for field in ("predicted_time", "prediction_time", "receive_time"):
            if field in decoded:  # timestamp-millis fields come back as datetimes
                decoded[field] = int(decoded[field].timestamp() * 1000)
        assert decoded == value
