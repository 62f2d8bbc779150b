"""The events: their fields, their determinism, and the bad ones the ingestor must refuse."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from transitstream.config import load_settings
from transitstream.gtfs import Feed, load_feed, trips_on
from transitstream.ingest.validate import derive_event_id, validate_event
from transitstream.simulate import EXPECTED_CODE, SimParams, Simulation
from transitstream.simulate.badevents import make_bad, not_json_body
from transitstream.simulate.fleet import (
    CHAIN_MIN_LAYOVER_S,
    assign_vehicles,
    blocks_of,
    chain_trips,
    first_departure,
    last_arrival,
)

NOW = datetime(2026, 11, 25, 17, 46, 12, tzinfo=UTC)
FIELDS = {
    "vehicle_id",
    "trip_id",
    "route_id",
    "lat",
    "lon",
    "ts",
    "speed",
    "bearing",
    "accuracy",
    "event_id",
}


@pytest.fixture(scope="module")
def feed() -> Feed:
    return load_feed(load_settings().gtfs_path)


def stream(feed: Feed, **kw: Any) -> list[tuple[list[Any], list[bytes]]]:
    sim = Simulation.build(feed, SimParams(vehicles=12, duration_s=60, **kw), now=NOW)
    return [(t.items, t.raw_bodies) for t in sim.ticks()]


def test_good_events_carry_the_contract_fields_and_the_servers_event_id(feed: Feed) -> None:
    sim = Simulation.build(feed, SimParams(vehicles=12, duration_s=60), now=NOW)
    settings = load_settings().ingest
    n = 0
    for tick in sim.ticks():
        for fix in tick.fixes:
            body = fix.body
            assert set(body) == FIELDS
            assert body["event_id"] == derive_event_id(body["vehicle_id"], body["ts"])
            assert 0 <= body["bearing"] < 360 and 0 <= body["speed"] <= 150
            assert body["vehicle_id"].startswith("bus-") and len(body["vehicle_id"]) == 7
            assert feed.trips[body["trip_id"]].route_id == body["route_id"]
            record, rejection = validate_event(body, body["ts"], settings)
            assert rejection is None and record is not None
            n += 1
    assert n > 500


def test_same_seed_same_events_and_another_seed_other_events(feed: Feed) -> None:
    first, again = stream(feed, seed=7), stream(feed, seed=7)
    assert first == again
    assert sum(len(items) for items, _ in first) > 500
    assert stream(feed, seed=8) != first
    sim = Simulation.build(feed, SimParams(vehicles=12, duration_s=60, seed=7), now=NOW)
    replay = [(t.items, t.raw_bodies) for t in sim.ticks()]
    assert replay == [(t.items, t.raw_bodies) for t in sim.ticks()] == first


def test_seed_changes_positions_not_only_ids(feed: Feed) -> None:
    def positions(seed: int) -> set[tuple[float, float]]:
        return {
            (i["lat"], i["lon"]) for items, _ in stream(feed, seed=seed, bad_rate=0) for i in items
        }

    assert len(positions(1) & positions(2)) < 0.05 * len(positions(1))


def test_each_bad_kind_gets_its_expected_rejection_code(feed: Feed) -> None:
    rates = {kind: 0.03 for kind in EXPECTED_CODE}
    sim = Simulation.build(
        feed,
        SimParams(vehicles=20, duration_s=120, bad_rates=rates, not_json_rate=0.2),
        now=NOW,
    )
    settings = load_settings().ingest
    seen: Counter[str] = Counter()
    bodies = 0
    for tick in sim.ticks():
        received = tick.event_ms
        for item, kind in zip(tick.items, tick.kinds, strict=True):
            record, rejection = validate_event(item, received, settings)
            if kind is None:
                assert rejection is None, (item, rejection)
                assert record is not None and record["event_id"] == item["event_id"]
            else:
                assert record is None and rejection is not None, (kind, item)
                assert rejection.code == EXPECTED_CODE[kind], (kind, item, rejection)
                seen[kind] += 1
        for raw in tick.raw_bodies:
            with pytest.raises((UnicodeDecodeError, json.JSONDecodeError)):
                json.loads(raw)
            bodies += 1
    assert set(seen) == set(EXPECTED_CODE)
    assert bodies >= 10


def test_bad_rate_zero_means_clean_and_the_overall_rate_is_respected(feed: Feed) -> None:
    clean = stream(feed, bad_rate=0, not_json_rate=0)
    sim = Simulation.build(feed, SimParams(vehicles=20, duration_s=120, bad_rate=0.1), now=NOW)
    kinds = [k for tick in sim.ticks() for k in tick.kinds]
    assert all(isinstance(i, dict) and "event_id" in i for items, _ in clean for i in items)
    assert not any(raw for _, raw in clean)
    bad = sum(k is not None for k in kinds)
    good = len(kinds) - bad
    assert 0.07 * good < bad < 0.13 * good


@pytest.mark.parametrize("kind", sorted(EXPECTED_CODE))
def test_make_bad_variants_all_fail_for_their_reason(kind: str) -> None:
    settings = load_settings().ingest
    ts = 1_795_627_730_164
    good = {
        "vehicle_id": "bus-001",
        "trip_id": "960020",
        "route_id": "4",
        "lat": 35.0456,
        "lon": -85.3097,
        "ts": ts,
        "speed": 7.5,
        "bearing": 90.0,
        "accuracy": 9.8,
        "event_id": derive_event_id("bus-001", ts),
    }
    rng = random.Random(3)
    for _ in range(40):
        bad = make_bad(kind, good, rng)
        _record, rejection = validate_event(bad, ts, settings)
        assert rejection is not None and rejection.code == EXPECTED_CODE[kind], bad
    assert validate_event(good, ts, settings)[1] is None


def test_not_json_bodies_are_never_json() -> None:
    rng = random.Random(5)
    for _ in range(30):
        with pytest.raises((UnicodeDecodeError, json.JSONDecodeError)):
            json.loads(not_json_body({"vehicle_id": "bus-001", "lat": 35.0}, rng))


def test_trips_without_block_id_are_chained_by_route_time_and_place(feed: Feed) -> None:
    day = trips_on(feed, Simulation.build(feed, SimParams(), now=NOW).clock.template_date)
    loose = [dataclasses.replace(t, block_id=None) for t in day]
    chains = chain_trips(feed, loose)
    assert sorted(t.trip_id for c in chains for t in c) == sorted(t.trip_id for t in day)
    assert len(chains) < len(day) / 4  # buses do several trips each
    alternating = total = 0
    for chain in chains:
        assert len({t.route_id for t in chain}) == 1
        for a, b in itertools.pairwise(chain):
            assert first_departure(feed, b) >= last_arrival(feed, a) + CHAIN_MIN_LAYOVER_S
            alternating += a.direction_id != b.direction_id
            total += 1
    assert alternating > 0.8 * total
    blocks = blocks_of(feed, loose)
    assert len(blocks) == len(chains)


def test_blocks_from_the_feed_do_not_overlap_in_time(feed: Feed) -> None:
    day = trips_on(feed, Simulation.build(feed, SimParams(), now=NOW).clock.template_date)
    blocks = blocks_of(feed, day)
    assert len(blocks) == len({t.block_id for t in day})
    for chain in blocks.values():
        for a, b in itertools.pairwise(chain):
            assert first_departure(feed, b) >= last_arrival(feed, a)


def test_more_vehicles_than_blocks_is_capped_unless_replicated(feed: Feed) -> None:
    day = trips_on(feed, Simulation.build(feed, SimParams(), now=NOW).clock.template_date)
    lo, hi = 12 * 3600, 12 * 3600 + 1200
    capped, notes = assign_vehicles(feed, day, lo, hi, 500, seed=1)
    assert 10 < len(capped) < 100 and any("only" in n for n in notes)
    assert len({a.block_id for a in capped}) == len(capped)
    many, notes = assign_vehicles(feed, day, lo, hi, 500, seed=1, replicate=True)
    assert len(many) == 500 and len({a.vehicle_id for a in many}) == 500
    assert any(a.shift_s != 0 for a in many) and any("replica" in n for n in notes)
    picked, _ = assign_vehicles(feed, day, lo, hi, 5, seed=1)
    other, _ = assign_vehicles(feed, day, lo, hi, 5, seed=2)
    assert [a.vehicle_id for a in picked] == ["bus-001", "bus-002", "bus-003", "bus-004", "bus-005"]
    assert {a.block_id for a in picked} != {a.block_id for a in other}
