"""The stream job's per-route logic without Spark: the same rows from a restored state (what a
replayed micro-batch relies on), one enriched row per used fix, anomaly ids stable, and ETAs
sent only when they changed materially (or were not sent for a while)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import fastavro
import pandas as pd

from transitstream.config import PredictSettings, load_settings
from transitstream.gtfs import load_feed
from transitstream.predict import Catalog, Predictor
from transitstream.predict.eta import predict_arrivals
from transitstream.schemas import load, topic_schemas
from transitstream.simulate import SimParams, Simulation
from transitstream.stream.brain import (
    ANOMALY,
    ENRICHED,
    ETA,
    OutRow,
    RouteBrain,
    anomaly_id,
    eta_record,
)
from transitstream.stream.encode import DLQ, OutputSchema, encode_value
from transitstream.stream.jobs import dead_letter
from transitstream.stream.publish import to_publish, tolerance_ms
from transitstream.wire import encode, parse_schema

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
        assert data == encode(42, parse_schema(text), value)  # times written as plain longs
        decoded = fastavro.schemaless_reader(io.BytesIO(data[5:]), parse_schema(text), None)
        for field in ("predicted_time", "prediction_time", "receive_time"):
            if field in decoded:  # timestamp-millis fields come back as datetimes
                decoded[field] = int(decoded[field].timestamp() * 1000)
        assert decoded == value


# -- which ETAs are published ------------------------------------------------------------------

T0 = 1_795_000_000_000  # ms
RULE = PredictSettings(eta_change_min_s=20, eta_change_ratio=0.1, eta_refresh_s=120)
EVERY = PredictSettings(eta_change_min_s=0, eta_change_ratio=0)


def arrivals(*minutes: float, now_ms: int = T0) -> list[float]:
    return [now_ms / 1000 + m * 60 for m in minutes]


def test_a_trips_first_predictions_are_all_published() -> None:
    sent, due = to_publish(None, "t1", 3, arrivals(1, 5, 30), T0, RULE)
    assert [k for k, _ in due] == [3, 4, 5]
    assert [p for _, p in due] == [round(t * 1000) for t in arrivals(1, 5, 30)]
    assert sent.first == 3 and sent.made_ms == [T0] * 3


def test_small_changes_wait_and_material_ones_go() -> None:
    """20 s at any horizon, 10 % of it further out: 15 s at 1 min and 2.5 min at 30 min wait;
    25 s at 1 min and 3.5 min at 30 min go."""
    sent, _ = to_publish(None, "t1", 3, arrivals(1, 5, 30), T0, RULE)
    now = T0 + 10_000
    moved = [t + d for t, d in zip(arrivals(1, 5, 30), (15, 0, 150), strict=True)]
    sent, due = to_publish(sent, "t1", 3, moved, now, RULE)
    assert due == []
    assert sent.predicted_ms == [round(t * 1000) for t in arrivals(1, 5, 30)]  # the sent ones
    moved = [t + d for t, d in zip(arrivals(1, 5, 30), (25, 0, 210), strict=True)]
    _, due = to_publish(sent, "t1", 3, moved, now, RULE)
    assert [k for k, _ in due] == [3, 5]


def test_an_unchanged_prediction_is_sent_again_after_the_refresh_interval() -> None:
    sent, _ = to_publish(None, "t1", 3, arrivals(5, 30), T0, RULE)
    refresh_ms = int(RULE.eta_refresh_s * 1000)
    sent, due = to_publish(sent, "t1", 3, arrivals(5, 30), T0 + refresh_ms - 1, RULE)
    assert due == []
    _, due = to_publish(sent, "t1", 3, arrivals(5, 30), T0 + refresh_ms, RULE)
    assert [k for k, _ in due] == [3, 4]


def test_passed_stops_leave_the_memory_and_a_new_trip_starts_afresh() -> None:
    sent, _ = to_publish(None, "t1", 3, arrivals(1, 5, 30), T0, RULE)
    sent, due = to_publish(sent, "t1", 4, arrivals(5, 30), T0 + 60_000, RULE)
    assert due == [] and sent.first == 4 and len(sent.predicted_ms) == 2
    _, due = to_publish(sent, "t2", 4, arrivals(5, 30), T0 + 60_000, RULE)
    assert [k for k, _ in due] == [4, 5]
    _, due = to_publish(sent, "t1", 3, arrivals(1, 5, 30), T0 + 60_000, RULE)  # relocated back
    assert [k for k, _ in due] == [3]


def fix_by_fix(brain: RouteBrain, events: list[dict[str, object]]) -> list[OutRow]:
    """A live job's micro-batches: one fix each."""
    return [row for e in events for row in brain.process([e])]


def test_the_route_sends_far_fewer_etas_yet_riders_see_each_stop_within_tolerance() -> None:
    """One fix per micro-batch (a live fleet): with the thresholds off, every fix sends every
    stop ahead (the predictor's predictions, field for field); with the defaults far fewer, yet
    the latest sent for each stop ahead of a vehicle's last fix is recent and within the change
    tolerance of what that fix predicts."""
    catalog = Catalog(load_feed())
    _, events = route_events()
    everything = fix_by_fix(RouteBrain(catalog, EVERY), events)
    held = fix_by_fix(RouteBrain(catalog, RULE), events)
    predictor, last = Predictor(catalog, RULE), {}
    predicted = []
    for e in events:
        res = predictor.process(e)
        if res.match is not None:
            predicted += res.predictions
            last[str(e["vehicle_id"])] = res.predictions
    etas = [r.value for r in everything if r.kind == ETA]
    assert etas == [eta_record(p).value for p in predicted]
    sent = [r.value for r in held if r.kind == ETA]
    assert 0 < len(sent) < len(etas) / 2
    latest: dict[tuple[str, str, int], dict[str, Any]] = {}
    for value in sent:  # in order made
        latest[value["vehicle_id"], value["trip_id"], value["stop_sequence"]] = value
    for predictions in last.values():
        for p in predictions:
            seen = latest[p.vehicle_id, p.trip_id, p.stop_sequence]
            assert p.prediction_time - seen["prediction_time"] < RULE.eta_refresh_s * 1000
            change = abs(seen["predicted_time"] - p.predicted_time)
            assert change == 0 or change < tolerance_ms(p.predicted_time, p.prediction_time, RULE)


def test_a_batch_predicts_from_each_vehicles_latest_fix_only() -> None:
    """Several fixes of a vehicle in one micro-batch (a backlog): each fix is sent enriched, but
    the ETAs come from its latest only (the earlier ones would be overwritten in the same
    transaction), every stop ahead of it, as the predictor predicts them after the batch."""
    catalog = Catalog(load_feed())
    _, events = route_events()
    rows = RouteBrain(catalog, EVERY).process(events)
    last_fix: dict[str, int] = {}
    for row in rows:
        if row.kind == ENRICHED:
            last_fix[row.value["vehicle_id"]] = row.value["event_time"]
    assert len(last_fix) > 1 and sum(r.kind == ENRICHED for r in rows) > 10 * len(last_fix)
    etas = [r.value for r in rows if r.kind == ETA]
    assert {(e["vehicle_id"], e["prediction_time"]) for e in etas} == set(last_fix.items())
    predictor = Predictor(catalog, EVERY)
    for e in events:
        predictor.process(e)
    for vid in last_fix:
        v = predictor.vehicles[vid]
        plan = catalog.plan(v.trip_id)
        assert plan is not None
        expected = predict_arrivals(plan, v, predictor.segments, v.ts_ms, EVERY)
        assert [e for e in etas if e["vehicle_id"] == vid] == [
            eta_record(p).value for p in expected
        ]


def test_a_replayed_batch_sends_the_same_bytes() -> None:
    """What was sent is in the state: a batch replayed from the stored JSON sends exactly the
    same ETA records, encoded byte for byte, as the first run did."""
    catalog = Catalog(load_feed())
    _, events = route_events()
    half = len(events) // 2
    brain = RouteBrain(catalog, RULE)
    brain.process(events[:half])
    snapshot = brain.to_json()
    assert '"sent"' in snapshot
    settings = load_settings()
    eta_topic = settings.topics.eta
    schema = OutputSchema(eta_topic, 1, load(settings, topic_schemas(settings)[eta_topic]))
    runs = [
        [encode_value(schema, r.value) for r in b.process(events[half:]) if r.kind == ETA]
        for b in (brain, RouteBrain.from_json(snapshot, catalog, RULE))
    ]
    assert runs[0] and runs[0] == runs[1]
