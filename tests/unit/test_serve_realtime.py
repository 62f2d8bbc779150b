"""GTFS-realtime feeds from rows: who is left out, what the header says, stop order, and only
ids the static feed has."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

from transitstream.serve.realtime import Known, trip_updates, vehicle_positions

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KNOWN = Known(
    trips={"t1": "4", "t2": "4", "t3": "9"},
    routes=frozenset({"4", "9"}),
    stops=frozenset({"s1", "s2", "s3"}),
)


def vehicle(vid: str, age_s: float, **extra: Any) -> dict[str, Any]:
    return {"vehicle_id": vid, "route_id": "4", "trip_id": "t1", "lat": 35.0, "lon": -85.3,
            "bearing": 90.0, "speed": 5.0, "next_stop_id": "s2", "next_stop_sequence": 2,
            "delay_s": 30, "event_time": NOW - timedelta(seconds=age_s), **extra}  # fmt: skip


def eta(vid: str, seq: int, trip: str = "t1", late_s: int = 60, **extra: Any) -> dict[str, Any]:
    predicted = NOW + timedelta(minutes=seq)
    return {"vehicle_id": vid, "trip_id": trip, "route_id": "4", "stop_sequence": seq,
            "stop_id": f"s{seq}", "predicted_time": predicted,
            "scheduled_time": predicted - timedelta(seconds=late_s),
            "prediction_time": NOW - timedelta(seconds=seq), **extra}  # fmt: skip


def test_positions_leave_silent_vehicles_out() -> None:
    feed = vehicle_positions(
        [vehicle("b", 10), vehicle("a", 5), vehicle("gone", 181)], NOW, 180, KNOWN
    )
    assert [e.id for e in feed.entity] == ["a", "b"]
    vp = feed.entity[0].vehicle
    assert vp.trip.trip_id == "t1" and vp.stop_id == "s2" and vp.current_stop_sequence == 2
    assert vp.current_status == rt.VehiclePosition.IN_TRANSIT_TO
    assert feed.header.timestamp == int((NOW - timedelta(seconds=5)).timestamp())
    assert feed.header.incrementality == rt.FeedHeader.FULL_DATASET
    rt.FeedMessage.FromString(feed.SerializeToString())  # valid on the wire


def test_empty_feed_is_stamped_now() -> None:
    feed = vehicle_positions([vehicle("gone", 500)], NOW, 180, KNOWN)
    assert not feed.entity and feed.header.timestamp == int(NOW.timestamp())


def test_optional_fields_stay_unset() -> None:
    v = vehicle("a", 1, bearing=None, speed=None, next_stop_id=None, next_stop_sequence=None,
                trip_id=None)  # fmt: skip
    vp = vehicle_positions([v], NOW, 180, KNOWN).entity[0].vehicle
    assert not vp.position.HasField("bearing") and not vp.trip.trip_id and not vp.stop_id
    assert vp.trip.route_id == "4"


def test_trip_updates_group_by_trip_in_stop_order() -> None:
    rows = [eta("a", 3), eta("a", 1), eta("a", 2), eta("a", 1, trip="t2"), eta("gone", 1)]
    feed = trip_updates(rows, [vehicle("a", 5), vehicle("gone", 999)], NOW, 180, KNOWN)
    assert [e.id for e in feed.entity] == ["a:t1", "a:t2"]
    tu = feed.entity[0].trip_update
    assert [u.stop_sequence for u in tu.stop_time_update] == [1, 2, 3]
    assert tu.stop_time_update[0].arrival.delay == 60
    assert tu.delay == 30 and not feed.entity[1].trip_update.HasField("delay")
    assert feed.header.timestamp == int((NOW - timedelta(seconds=1)).timestamp())


def test_position_with_an_unknown_trip_keeps_the_bus_without_the_trip() -> None:
    omitted: Counter[str] = Counter()
    v = vehicle("a", 1, trip_id="ghost", next_stop_id="s2", next_stop_sequence=7)
    vp = vehicle_positions([v], NOW, 180, KNOWN, omitted).entity[0].vehicle
    assert vp.position.latitude == 35.0 and vp.vehicle.id == "a"
    assert not vp.trip.trip_id and vp.trip.route_id == "4"  # the route is still known
    assert not vp.HasField("current_stop_sequence")  # it indexes the unknown trip's stops
    assert vp.stop_id == "s2"
    assert omitted == Counter(trip=1)


def test_position_leaves_unknown_route_and_stop_out() -> None:
    omitted: Counter[str] = Counter()
    rows = [
        vehicle("a", 1, trip_id=None, route_id="R-ghost", next_stop_id="s-ghost"),
        vehicle("b", 1, route_id="R-ghost"),  # a known trip: its route from the static feed
        vehicle("c", 1, trip_id="t3", route_id="4"),  # a known trip on another route
    ]
    a, b, c = (e.vehicle for e in vehicle_positions(rows, NOW, 180, KNOWN, omitted).entity)
    assert not a.HasField("trip") and not a.stop_id and not a.HasField("current_status")
    assert b.trip.trip_id == "t1" and b.trip.route_id == "4"
    assert c.trip.trip_id == "t3" and c.trip.route_id == "9"
    assert omitted == Counter(route=2, stop=1)


def test_trip_updates_leave_unknown_trips_and_stops_out() -> None:
    omitted: Counter[str] = Counter()
    rows = [
        eta("a", 1), eta("a", 2, stop_id="s-ghost"), eta("a", 3, route_id="R-ghost"),
        eta("a", 1, trip="ghost"), eta("a", 2, trip="ghost"),
        eta("a", 1, trip="t2", stop_id="s-ghost"),  # nothing left: no TripUpdate at all
    ]  # fmt: skip
    feed = trip_updates(rows, [vehicle("a", 5)], NOW, 180, KNOWN, omitted)
    assert [e.id for e in feed.entity] == ["a:t1"]
    tu = feed.entity[0].trip_update
    assert [(u.stop_sequence, u.stop_id) for u in tu.stop_time_update] == [(1, "s1"), (3, "s3")]
    assert tu.trip.route_id == "4"
    assert omitted == Counter(trip=1, stop=2)


def test_trip_update_route_is_the_static_trips() -> None:
    omitted: Counter[str] = Counter()
    rows = [eta("a", 1, trip="t3", route_id="R-ghost")]
    feed = trip_updates(rows, [vehicle("a", 5)], NOW, 180, KNOWN, omitted)
    assert feed.entity[0].trip_update.trip.route_id == "9"
    assert omitted == Counter(route=1)
