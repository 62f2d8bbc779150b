"""GTFS-realtime feeds (TripUpdates, VehiclePositions) built from read-model rows.

Pure functions of rows and a clock, so the rules (who is left out, what the header says) are
unit tested. A vehicle silent for `stale_s` is left out of both feeds: trip planners would
otherwise keep showing a bus that is gone. The header's timestamp is the event time of the
freshest data in the feed (consumers use it to tell a frozen feed), or now when it is empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

Row = dict[str, Any]
VERSION = "2.0"


def is_fresh(event_time: datetime, now: datetime, stale_s: float) -> bool:
    return (now - event_time).total_seconds() <= stale_s


def _header(feed: rt.FeedMessage, times: Iterable[datetime], now: datetime) -> None:
    feed.header.gtfs_realtime_version = VERSION
    feed.header.incrementality = rt.FeedHeader.FULL_DATASET
    feed.header.timestamp = int(max(times, default=now).timestamp())


def vehicle_positions(vehicles: list[Row], now: datetime, stale_s: float) -> rt.FeedMessage:
    feed = rt.FeedMessage()
    fresh = [v for v in vehicles if is_fresh(v["event_time"], now, stale_s)]
    for v in sorted(fresh, key=lambda v: v["vehicle_id"]):
        entity = feed.entity.add(id=v["vehicle_id"])
        vp = entity.vehicle
        vp.vehicle.id = v["vehicle_id"]
        if v["trip_id"]:
            vp.trip.trip_id = v["trip_id"]
        if v["route_id"]:
            vp.trip.route_id = v["route_id"]
        vp.position.latitude = v["lat"]
        vp.position.longitude = v["lon"]
        if v["bearing"] is not None:
            vp.position.bearing = v["bearing"]
        if v["speed"] is not None:
            vp.position.speed = v["speed"]
        if v["next_stop_id"]:
            vp.stop_id = v["next_stop_id"]
            vp.current_status = rt.VehiclePosition.IN_TRANSIT_TO
        if v["next_stop_sequence"] is not None:
            vp.current_stop_sequence = v["next_stop_sequence"]
        vp.timestamp = int(v["event_time"].timestamp())
    _header(feed, (v["event_time"] for v in fresh), now)
    return feed


def trip_updates(
    etas: list[Row], vehicles: list[Row], now: datetime, stale_s: float
) -> rt.FeedMessage:
    """One TripUpdate per (vehicle, trip) of a fresh vehicle, its stops in sequence order."""
    feed = rt.FeedMessage()
    fresh = {v["vehicle_id"]: v for v in vehicles if is_fresh(v["event_time"], now, stale_s)}
    trips: dict[tuple[str, str], list[Row]] = {}
    for e in etas:
        if e["vehicle_id"] in fresh:
            trips.setdefault((e["vehicle_id"], e["trip_id"]), []).append(e)
    times = []
    for (vehicle_id, trip_id), rows in sorted(trips.items()):
        rows.sort(key=lambda r: r["stop_sequence"])
        entity = feed.entity.add(id=f"{vehicle_id}:{trip_id}")
        tu = entity.trip_update
        tu.trip.trip_id = trip_id
        tu.trip.route_id = rows[0]["route_id"]
        tu.vehicle.id = vehicle_id
        made = max(r["prediction_time"] for r in rows)
        tu.timestamp = int(made.timestamp())
        times.append(made)
        for r in rows:
            stu = tu.stop_time_update.add(stop_sequence=r["stop_sequence"], stop_id=r["stop_id"])
            stu.arrival.time = int(r["predicted_time"].timestamp())
            if r["scheduled_time"] is not None:
                stu.arrival.delay = round(
                    (r["predicted_time"] - r["scheduled_time"]).total_seconds()
                )
        if fresh[vehicle_id]["delay_s"] is not None and fresh[vehicle_id]["trip_id"] == trip_id:
            tu.delay = fresh[vehicle_id]["delay_s"]
    _header(feed, times, now)
    return feed
