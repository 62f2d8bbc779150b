"""GTFS-realtime feeds from rows: who is left out, what the header says, stop order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

from transitstream.serve.realtime import trip_updates, vehicle_positions

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def vehicle(vid: str, age_s: float, **extra: Any) -> dict[str, Any]:
    return {"vehicle_id": vid, "route_id": "4", "trip_id": "t1", "lat": 35.0, "lon": -85.3,
            "bearing": 90.0, "speed": 5.0, "next_stop_id": "s2", "next_stop_sequence": 2,
            "delay_s": 30, "event_time": NOW - timedelta(seconds=age_s), **extra}  # fmt: skip


def eta(vid: str, seq: int, trip: str = "t1", late_s: int = 60) -> dict[str, Any]:
    predicted = NOW + timedelta(minutes=seq)
    return {"vehicle_id": vid, "trip_id": trip, "route_id": "4", "stop_sequence": seq,
            "stop_id": f"s{seq}", "predicted_time": predicted,
            "scheduled_time": predicted - timedelta(seconds=late_s),
            "prediction_time": NOW - timedelta(seconds=seq)}  # fmt: skip


def test_positions_leave_silent_vehicles_out() -> None:
    feed = vehicle_positions([vehicle("b", 10), vehicle("a", 5), vehicle("gone", 181)], NOW, 180)
    assert [e.id for e in feed.entity] == ["a", "b"]
    vp = feed.entity[0].vehicle
    assert vp.trip.trip_id == "t1" and vp.stop_id == "s2" and vp.current_stop_sequence == 2
    assert vp.current_status == rt.VehiclePosition.IN_TRANSIT_TO
    assert feed.header.timestamp == int((NOW - timedelta(seconds=5)).timestamp())
    assert feed.header.incrementality == rt.FeedHeader.FULL_DATASET
    rt.FeedMessage.FromString(feed.SerializeToString())  # valid on the wire


def test_empty_feed_is_stamped_now() -> None:
    feed = vehicle_positions([vehicle("gone", 500)], NOW, 180)
    assert not feed.entity and feed.header.timestamp == int(NOW.timestamp())


def test_optional_fields_stay_unset() -> None:
    v = vehicle("a", 1, bearing=None, speed=None, next_stop_id=None, next_stop_sequence=None,
                trip_id=None)  # fmt: skip
    vp = vehicle_positions([v], NOW, 180).entity[0].vehicle
    assert not vp.position.HasField("bearing") and not vp.trip.trip_id and not vp.stop_id
    assert vp.trip.route_id == "4"


def test_trip_updates_group_by_trip_in_stop_order() -> None:
    rows = [eta("a", 3), eta("a", 1), eta("a", 2), eta("a", 1, trip="t2"), eta("gone", 1)]
    feed = trip_updates(rows, [vehicle("a", 5), vehicle("gone", 999)], NOW, 180)
    assert [e.id for e in feed.entity] == ["a:t1", "a:t2"]
    tu = feed.entity[0].trip_update
    assert [u.stop_sequence for u in tu.stop_time_update] == [1, 2, 3]
    assert tu.stop_time_update[0].arrival.delay == 60
    assert tu.delay == 30 and not feed.entity[1].trip_update.HasField("delay")
    assert feed.header.timestamp == int((NOW - timedelta(seconds=1)).timestamp())
