"""Map matching on crafted tracks along real CARTA trips: loops, offsets, headings, service days."""

from __future__ import annotations

import itertools
import math
import random
from datetime import date, timedelta
from typing import Any

import pytest

from transitstream.config import PredictSettings, load_settings
from transitstream.gtfs import Feed, LocalProjection, load_feed
from transitstream.predict import (
    Catalog,
    SegmentState,
    TripPlan,
    VehicleState,
    deviation_s,
    initial_match,
    step,
)

DAY = date(2026, 5, 11)  # a weekday the feed runs
S = PredictSettings()
OUT_AND_BACK = "7020"  # route 2: passes 1700-1860 m eastbound and 2040-2180 m back westbound
PAST_MIDNIGHT = "1728020"  # 23:55:00 to 24:45:00


@pytest.fixture(scope="module")
def feed() -> Feed:
    return load_feed(load_settings().gtfs_path)


@pytest.fixture(scope="module")
def catalog(feed: Feed) -> Catalog:
    return Catalog(feed)


def plan_of(catalog: Catalog, trip_id: str) -> TripPlan:
    plan = catalog.plan(trip_id)
    assert plan is not None
    return plan


def fix(
    catalog: Catalog,
    plan: TripPlan,
    d: float,
    t_s: float | None = None,
    east: float = 0.0,
    north: float = 0.0,
    speed: float = 8.0,
    day: date = DAY,
) -> dict[str, Any]:
    """The event a bus at distance d (shifted east/north metres) sends at service time t_s
    (default: on schedule)."""
    at = plan.polyline.point_at(d)
    lat, lon = LocalProjection(at.lat, at.lon).to_latlon(east, north)
    t = plan.sched_at(d) if t_s is None else t_s
    return {
        "vehicle_id": "bus-t",
        "trip_id": plan.trip_id,
        "route_id": plan.route_id,
        "lat": lat,
        "lon": lon,
        "ts": catalog.day_start_ms(day) + round(t * 1000),
        "speed": speed,
        "bearing": at.bearing_deg,
    }


def test_a_noisy_track_matches_monotonically_through_an_out_and_back_loop(
    catalog: Catalog,
) -> None:
    plan = plan_of(catalog, OUT_AND_BACK)
    rng = random.Random(3)
    truths = [float(d) for d in range(40, int(plan.polyline.length_m), 60)]
    events = [
        fix(catalog, plan, d, plan.dep_s[0] + 8.0 * i, rng.gauss(0, 4), rng.gauss(0, 4))
        for i, d in enumerate(truths)
    ]
    # The test means something only if a plain nearest-point search gets the loop wrong.
    fooled = [
        d
        for d, e in zip(truths, events, strict=True)
        if abs(plan.polyline.project((e["lat"], e["lon"])).distance_m - d) > 100
    ]
    assert fooled
    v: VehicleState | None = None
    segments = SegmentState()
    matched: list[float] = []
    for d, e in zip(truths, events, strict=True):
        v, res = step(e, v, segments, catalog, S)
        assert res.match is not None and res.skipped is None
        matched.append(res.match.dist_m)
        # CARTA's shapes make a ~10 m spur into each stop and back: both legs are one spot.
        assert abs(res.match.dist_m - d) < 30, (d, res.match.dist_m)
        assert res.match.offset_m < 20
        if all(abs(d - s) > 25 for s in plan.dist_m):
            expected = plan.next_stop(d, S.reached_m)
            assert res.match.next_stop == expected
            assert res.match.next_stop_id == plan.stop_ids[expected]
    assert all(b >= a for a, b in itertools.pairwise(matched))


def test_a_point_500_m_off_the_shape_has_a_500_m_offset(catalog: Catalog) -> None:
    plan = plan_of(catalog, OUT_AND_BACK)
    v: VehicleState | None = None
    for d in (800.0, 870.0, 940.0):
        v, _ = step(fix(catalog, plan, d), v, SegmentState(), catalog, S)
    at = plan.polyline.point_at(1000.0)
    right = math.radians(at.bearing_deg + 90.0)
    east, north = 500 * math.sin(right), 500 * math.cos(right)
    v, res = step(fix(catalog, plan, 1000.0, east=east, north=north), v, SegmentState(), catalog, S)
    assert res.match is not None
    assert res.match.offset_m == pytest.approx(500.0, abs=10.0)
    assert abs(res.match.dist_m - 1000.0) < 30.0


def test_the_heading_picks_the_leg_of_an_out_and_back_street(catalog: Catalog) -> None:
    plan = plan_of(catalog, OUT_AND_BACK)
    out_leg, back_leg = 1816.0, 2076.0  # the same street, opposite directions
    e = fix(catalog, plan, out_leg)
    day0 = catalog.day_start_ms(DAY)
    out_bearing = plan.polyline.point_at(out_leg).bearing_deg
    back_bearing = plan.polyline.point_at(back_leg).bearing_deg
    assert abs((out_bearing - back_bearing) % 360 - 180) < 20
    proj, day_ms = initial_match(catalog, plan, e["lat"], e["lon"], e["ts"], S, out_bearing)
    assert abs(proj.distance_m - out_leg) < 20 and day_ms == day0
    proj, _ = initial_match(catalog, plan, e["lat"], e["lon"], e["ts"], S, back_bearing)
    assert abs(proj.distance_m - back_leg) < 20


def test_a_trip_past_midnight_counts_from_the_previous_service_day(catalog: Catalog) -> None:
    plan = plan_of(catalog, PAST_MIDNIGHT)
    assert plan.dep_s[0] < 86400 < plan.arr_s[-1]
    d = plan.dist_m[-2]
    e = fix(catalog, plan, d, t_s=plan.sched_at(d) + 90.0)  # 90 s late, after midnight
    next_day = catalog.day_start_ms(DAY + timedelta(days=1))
    assert e["ts"] > next_day  # the event's calendar date is the next day...
    proj, day_ms = initial_match(catalog, plan, e["lat"], e["lon"], e["ts"], S)
    assert day_ms == catalog.day_start_ms(DAY)  # ...but the trip's service day is DAY
    delay = deviation_s(plan, day_ms, proj.distance_m, e["ts"], True, S)
    assert delay == pytest.approx(90.0, abs=5.0)


def test_schedule_deviation_late_early_and_waiting_at_the_first_stop(catalog: Catalog) -> None:
    plan = plan_of(catalog, OUT_AND_BACK)
    v, res = step(
        fix(catalog, plan, 0.0, t_s=plan.dep_s[0] - 300), None, SegmentState(), catalog, S
    )
    assert res.match is not None and not res.match.departed
    assert res.match.delay_s == 0.0  # waiting for its departure is not being early
    v, res = step(fix(catalog, plan, 0.0, t_s=plan.dep_s[0] + 200), v, SegmentState(), catalog, S)
    assert res.match is not None and res.match.delay_s == pytest.approx(200.0, abs=1.0)
    v, res = step(
        fix(catalog, plan, 300.0, plan.sched_at(300) + 250), v, SegmentState(), catalog, S
    )
    assert res.match is not None and res.match.departed
    assert res.match.delay_s == pytest.approx(250.0, abs=5.0)
    early = None
    for d in (1300.0, 1400.0):
        early, res = step(
            fix(catalog, plan, d, plan.sched_at(d) - 100), early, SegmentState(), catalog, S
        )
        assert res.match is not None and res.match.departed
        assert res.match.delay_s == pytest.approx(-100.0, abs=5.0)


def test_a_lost_track_is_found_again_on_the_shape_without_an_off_route_alarm(
    catalog: Catalog,
) -> None:
    plan = plan_of(catalog, OUT_AND_BACK)
    v, _ = step(fix(catalog, plan, 400.0), None, SegmentState(), catalog, S)
    v, res = step(fix(catalog, plan, 3000.0), v, SegmentState(), catalog, S)  # far past the window
    assert res.match is not None
    assert abs(res.match.dist_m - 3000.0) < 20 and res.match.offset_m < 20
    assert res.match.next_stop == plan.next_stop(3000.0, S.reached_m)
    v, res = step(fix(catalog, plan, 3070.0), v, SegmentState(), catalog, S)
    assert res.match is not None and abs(res.match.dist_m - 3070.0) < 20
    assert not res.anomalies and not v.open
