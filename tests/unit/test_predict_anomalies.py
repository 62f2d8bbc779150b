"""Each anomaly rule on a crafted track along a real CARTA trip (route 2, trip 7020)."""

from __future__ import annotations

import itertools
import math
import random
from datetime import date
from typing import Any

import pytest

from transitstream.config import PredictSettings, load_settings
from transitstream.gtfs import Feed, LocalProjection, load_feed
from transitstream.predict import (
    AnomalyEvent,
    BunchingState,
    Catalog,
    SegmentState,
    StepResult,
    TripPlan,
    VehicleState,
    detect_bunching,
    step,
)
from transitstream.predict.mapmatch import relocate

DAY = date(2026, 5, 11)
S = PredictSettings()
TRIP = "7020"  # stops at 0, 231, 658, 1537 m ...; departs 07:30:00


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    feed: Feed = load_feed(load_settings().gtfs_path)
    return Catalog(feed)


@pytest.fixture(scope="module")
def plan(catalog: Catalog) -> TripPlan:
    found = catalog.plan(TRIP)
    assert found is not None
    return found


Point = tuple[float, float, float, float, float]  # d, service seconds, east, north, speed


def event(catalog: Catalog, plan: TripPlan, p: Point, vid: str = "bus-a") -> dict[str, Any]:
    d, t, east, north, _speed = p
    at = plan.polyline.point_at(d)
    lat, lon = LocalProjection(at.lat, at.lon).to_latlon(east, north)
    ts = catalog.day_start_ms(DAY) + round(t * 1000)
    return {"vehicle_id": vid, "trip_id": plan.trip_id, "lat": lat, "lon": lon, "ts": ts}


def drive(catalog: Catalog, plan: TripPlan, points: list[Point]) -> list[StepResult]:
    v: VehicleState | None = None
    segments = SegmentState()
    out = []
    rng = random.Random(5)
    for p in points:
        e = event(catalog, plan, (p[0], p[1], p[2] + rng.gauss(0, 3), p[3] + rng.gauss(0, 3), p[4]))
        e["speed"] = p[4]
        e["bearing"] = plan.polyline.point_at(p[0]).bearing_deg
        v, res = step(e, v, segments, catalog, S)
        out.append(res)
    return out


def anomalies(results: list[StepResult], kind: str | None = None) -> list[AnomalyEvent]:
    return [a for r in results for a in r.anomalies if kind is None or a.kind == kind]


def on_schedule(plan: TripPlan, ds: list[float], delay: float = 0.0) -> list[Point]:
    return [(d, plan.sched_at(d) + delay, 0.0, 0.0, 8.0) for d in ds]


def test_a_detour_opens_once_after_three_fixes_and_closes_once(
    catalog: Catalog, plan: TripPlan
) -> None:
    points: list[Point] = []
    off = []
    for i, d in enumerate(range(300, 1500, 60)):
        east = north = 0.0
        if 700 <= d <= 1100:
            right = math.radians(plan.polyline.point_at(d).bearing_deg + 90)
            east, north = 350 * math.sin(right), 350 * math.cos(right)
            off.append(i)
        points.append((float(d), plan.dep_s[0] + 8.0 * i, east, north, 8.0))
    # The detour is off the whole shape, not near another part of it.
    for i in off:
        e = event(catalog, plan, points[i])
        assert relocate(plan, e["lat"], e["lon"], e["ts"], catalog.day_start_ms(DAY), S) is None
    results = drive(catalog, plan, points)
    found = anomalies(results, "off_route")
    assert [a.status for a in found] == ["open", "close"]
    assert found[0] in results[off[0] + 2].anomalies  # the third fix off the route
    assert found[0].severity == "critical"  # 350 m: over three times the 100 m threshold
    assert found[0].evidence["offset_m"] == pytest.approx(350, abs=25)
    assert found[1] in results[off[-1] + 3].anomalies  # the third fix back on it
    assert found[1].evidence["duration_s"] == pytest.approx(8.0 * len(off), abs=0.1)
    assert (found[0].vehicle_id, found[0].trip_id, found[0].route_id) == ("bus-a", TRIP, "2")
    assert not anomalies(results, "stalled") and not anomalies(results, "jump")


def standing(plan: TripPlan, d: float, t0: float, minutes: float) -> list[Point]:
    return [(d, t0 + 10.0 * k, 0.0, 0.0, 0.0) for k in range(int(minutes * 6))]


def test_standing_between_stops_is_a_stall_standing_at_a_stop_is_not(
    catalog: Catalog, plan: TripPlan
) -> None:
    mid = 1100.0  # 440 m past stop 2, 437 m before stop 3
    t0 = plan.sched_at(mid)
    before = on_schedule(plan, [900.0, 1000.0])
    after = [(1300.0, t0 + 400.0, 0.0, 0.0, 8.0), (1400.0, t0 + 412.0, 0.0, 0.0, 8.0)]
    results = drive(catalog, plan, [*before, *standing(plan, mid, t0, 6), *after])
    found = anomalies(results, "stalled")
    assert [a.status for a in found] == ["open", "close"]
    opened_at = (found[0].event_time - catalog.day_start_ms(DAY)) / 1000 - t0
    assert opened_at == pytest.approx(S.stall_s, abs=10.0)
    assert found[1].evidence["duration_s"] == pytest.approx(400 - S.stall_s, abs=15.0)

    stop = plan.dist_m[3]  # a timepoint-like hold of six minutes at a stop
    t1 = plan.sched_at(stop)
    dwell = [*on_schedule(plan, [1300.0, 1450.0]), *standing(plan, stop, t1, 6)]
    assert not anomalies(drive(catalog, plan, dwell), "stalled")

    layover = standing(plan, 0.0, plan.dep_s[0] - 660.0, 10)  # ten minutes before departure
    assert not anomalies(drive(catalog, plan, layover))


def test_a_jump_is_reported_once_and_the_next_fix_matches_normally(
    catalog: Catalog, plan: TripPlan
) -> None:
    points = on_schedule(plan, [float(d) for d in range(300, 1200, 70)])
    d, t, _, _, speed = points[6]
    points[6] = (d, t, 0.0, 3000.0, speed)  # one fix 3 km north
    results = drive(catalog, plan, points)
    jumps = anomalies(results, "jump")
    assert len(jumps) == 1 and jumps[0].status == "instant"
    assert jumps[0] in results[6].anomalies and results[6].skipped == "impossible jump"
    assert jumps[0].evidence["distance_m"] == pytest.approx(3000, abs=150)
    nxt = results[7].match
    assert nxt is not None and results[7].skipped is None
    assert abs(nxt.dist_m - points[7][0]) < 25 and nxt.offset_m < 20
    assert anomalies(results) == jumps  # no off-route, no stall from the wild fix


def test_late_opens_once_then_closes_and_early_opens_once(catalog: Catalog, plan: TripPlan) -> None:
    late = on_schedule(plan, [1000.0, 1100.0, 1200.0, 1300.0, 1400.0], delay=400.0)
    late.append((2906.5, plan.sched_at(2906.5) + 200.0, 0.0, 0.0, 8.0))  # catching up
    assert all(b[1] > a[1] for a, b in itertools.pairwise(late))
    results = drive(catalog, plan, late)
    found = anomalies(results, "late")
    assert [a.status for a in found] == ["open", "close"]
    assert found[0] in results[2].anomalies and found[0].severity == "info"  # 400 / 300
    assert found[0].evidence["delay_s"] == pytest.approx(400, abs=5)
    assert not anomalies(results, "early")

    early = on_schedule(plan, [1000.0, 1100.0, 1200.0, 1300.0], delay=-200.0)
    found = anomalies(drive(catalog, plan, early))
    assert [(a.kind, a.status, a.severity) for a in found] == [("early", "open", "warning")]


def bus(catalog: Catalog, trip_id: str, d: float, vid: str, ts: int) -> VehicleState:
    p = catalog.plan(trip_id)
    assert p is not None
    at = p.polyline.point_at(d)
    return VehicleState(
        vid,
        trip_id=trip_id,
        route_id=p.route_id,
        day_start_ms=catalog.day_start_ms(DAY),
        ts_ms=ts,
        lat=at.lat,
        lon=at.lon,
        dist_m=d,
        departed=True,
        next_stop=p.next_stop(d, S.reached_m),
    )


def test_bunching_opens_once_for_a_collapsed_headway_and_closes_when_it_recovers(
    catalog: Catalog,
) -> None:
    leader_trip, follower_trip = "278020", "147020"  # route 4, same shape, 30 min apart
    now = catalog.day_start_ms(DAY) + 26000 * 1000
    state = BunchingState()
    a = bus(catalog, leader_trip, 9000.0, "bus-a", now)
    b = bus(catalog, follower_trip, 8900.0, "bus-b", now)
    other = bus(catalog, "1964020", 9000.0, "bus-c", now)  # route 4, same direction
    other.departed = False  # not in service yet: never compared
    found = detect_bunching([a, b, other], catalog, state, now, S)
    assert [(x.kind, x.status, x.vehicle_id) for x in found] == [("bunching", "open", "bus-b")]
    assert found[0].severity == "critical"
    assert found[0].evidence["leader_vehicle_id"] == "bus-a"
    assert found[0].evidence["scheduled_headway_s"] == pytest.approx(1800, abs=5)
    assert detect_bunching([a, b, other], catalog, state, now + 10_000, S) == []  # still open
    a.dist_m = 16000.0  # the leader pulled away: 7 km ahead on a 30-minute headway
    closed = detect_bunching([a, b], catalog, state, now + 20_000, S)
    assert [(x.status, x.vehicle_id) for x in closed] == [("close", "bus-b")]
    assert float(closed[0].evidence["ratio"]) > S.bunching_ratio
    assert state.open == {}
