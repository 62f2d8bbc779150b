"""GTFS-realtime feeds (TripUpdates, VehiclePositions) built from read-model rows.

Pure functions of rows, the static ids and a clock, so the rules (who is left out, what the
header says) are unit tested. A vehicle silent for `stale_s` is left out of both feeds: trip
planners would otherwise keep showing a bus that is gone. The header's timestamp is the event
time of the freshest data in the feed (consumers use it to tell a frozen feed), or now when it
is empty.

Only ids of the static feed are published. A GTFS-realtime feed is read together with the static
GTFS feed, and consumers (OpenTripPlanner, Google's and MobilityData's validators: "all trip_ids
/ route_ids / stop_ids must exist in the GTFS data") reject or misplace an entity whose id they
cannot find. Rows can name such ids: a vehicle reports a trip the timetable does not have, or a
read model was written against another feed. What is left out is counted, per feed and kind, in
`serve_realtime_omitted_total`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

from transitstream.gtfs import Feed

Row = dict[str, Any]
VERSION = "2.0"


@dataclass(frozen=True)
class Known:
    """The ids of the static feed a realtime entity may name (trip_id -> its route_id)."""

    trips: Mapping[str, str]
    routes: frozenset[str]
    stops: frozenset[str]

    @classmethod
    def of(cls, feed: Feed) -> Known:
        """Built once per feed (kept in `feed.cache`), not once per request."""
        key = ("serve.realtime", "known")
        if key not in feed.cache:
            feed.cache[key] = cls(
                trips={t.trip_id: t.route_id for t in feed.trips.values()},
                routes=frozenset(feed.routes),
                stops=frozenset(feed.stops),
            )
        known: Known = feed.cache[key]
        return known


def is_fresh(event_time: datetime, now: datetime, stale_s: float) -> bool:
    return (now - event_time).total_seconds() <= stale_s


def _header(feed: rt.FeedMessage, times: Iterable[datetime], now: datetime) -> None:
    feed.header.gtfs_realtime_version = VERSION
    feed.header.incrementality = rt.FeedHeader.FULL_DATASET
    feed.header.timestamp = int(max(times, default=now).timestamp())


def _trip(vp: rt.VehiclePosition, v: Row, known: Known, omitted: Counter[str]) -> bool:
    """Fill the vehicle's trip descriptor with known ids only; True if its trip is known.

    An unknown trip does not drop the vehicle: the spec makes `VehiclePosition.trip` optional
    ("can be empty or partial if the vehicle can not be identified with a given trip instance"),
    and riders still want the bus on the map. It keeps a known route_id, as a vehicle with no
    trip does; a known trip takes its route from the static feed, whatever the row says.
    """
    trip_id, route_id = v["trip_id"], v["route_id"]
    if route_id and route_id not in known.routes:
        omitted["route"] += 1
        route_id = None
    if trip_id and trip_id in known.trips:
        vp.trip.trip_id = trip_id
        vp.trip.route_id = known.trips[trip_id]
        return True
    if trip_id:
        omitted["trip"] += 1
    if route_id:
        vp.trip.route_id = route_id
    return False


def vehicle_positions(
    vehicles: list[Row],
    now: datetime,
    stale_s: float,
    known: Known,
    omitted: Counter[str] | None = None,
) -> rt.FeedMessage:
    """Every fresh vehicle. Unknown ids are left out and counted in `omitted` (trip, route,
    stop); `current_stop_sequence` only with a known trip, since it indexes that trip's stops."""
    omitted = Counter() if omitted is None else omitted
    feed = rt.FeedMessage()
    fresh = [v for v in vehicles if is_fresh(v["event_time"], now, stale_s)]
    for v in sorted(fresh, key=lambda v: v["vehicle_id"]):
        entity = feed.entity.add(id=v["vehicle_id"])
        vp = entity.vehicle
        vp.vehicle.id = v["vehicle_id"]
        trip_known = _trip(vp, v, known, omitted)
        vp.position.latitude = v["lat"]
        vp.position.longitude = v["lon"]
        if v["bearing"] is not None:
            vp.position.bearing = v["bearing"]
        if v["speed"] is not None:
            vp.position.speed = v["speed"]
        if v["next_stop_id"] and v["next_stop_id"] in known.stops:
            vp.stop_id = v["next_stop_id"]
            vp.current_status = rt.VehiclePosition.IN_TRANSIT_TO
        elif v["next_stop_id"]:
            omitted["stop"] += 1
        if v["next_stop_sequence"] is not None and trip_known:
            vp.current_stop_sequence = v["next_stop_sequence"]
        vp.timestamp = int(v["event_time"].timestamp())
    _header(feed, (v["event_time"] for v in fresh), now)
    return feed


def trip_updates(
    etas: list[Row],
    vehicles: list[Row],
    now: datetime,
    stale_s: float,
    known: Known,
    omitted: Counter[str] | None = None,
) -> rt.FeedMessage:
    """One TripUpdate per (vehicle, trip) of a fresh vehicle, its stops in sequence order.

    A trip the static feed does not have gets no TripUpdate: the update exists to say when that
    trip's timetabled stops will be served, which means nothing without the timetable (and an
    ADDED trip would need stop times this feed does not carry). A prediction for an unknown stop
    is dropped from its trip, and a trip left without any has no TripUpdate either (the spec
    asks for at least one StopTimeUpdate). The route_id is the static trip's.
    """
    omitted = Counter() if omitted is None else omitted
    feed = rt.FeedMessage()
    fresh = {v["vehicle_id"]: v for v in vehicles if is_fresh(v["event_time"], now, stale_s)}
    trips: dict[tuple[str, str], list[Row]] = {}
    for e in etas:
        if e["vehicle_id"] in fresh:
            trips.setdefault((e["vehicle_id"], e["trip_id"]), []).append(e)
    times = []
    for (vehicle_id, trip_id), rows in sorted(trips.items()):
        if trip_id not in known.trips:
            omitted["trip"] += 1
            continue
        if rows[0]["route_id"] not in known.routes:  # replaced by the static trip's route
            omitted["route"] += 1
        stops = sorted((r for r in rows if r["stop_id"] in known.stops),
                       key=lambda r: r["stop_sequence"])  # fmt: skip
        omitted["stop"] += len(rows) - len(stops)
        if not stops:
            continue
        entity = feed.entity.add(id=f"{vehicle_id}:{trip_id}")
        tu = entity.trip_update
        tu.trip.trip_id = trip_id
        tu.trip.route_id = known.trips[trip_id]
        tu.vehicle.id = vehicle_id
        made = max(r["prediction_time"] for r in stops)
        tu.timestamp = int(made.timestamp())
        times.append(made)
        for r in stops:
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
