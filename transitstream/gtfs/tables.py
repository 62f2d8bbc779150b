"""One parser per GTFS table, turning raw rows into the records of `model`.

Each reports a bad value with its file and row, so a broken feed says where to look.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType

from transitstream.gtfs.model import (
    Frequency,
    Route,
    ServiceCalendar,
    Shape,
    Stop,
    Trip,
    parse_gtfs_date,
    parse_gtfs_time,
)
from transitstream.gtfs.reader import Table, cell, row_error

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "routes.txt": ("route_id", "route_type"),
    "stops.txt": ("stop_id", "stop_lat", "stop_lon"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"),
    "shapes.txt": ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
    "calendar.txt": ("service_id", *WEEKDAYS, "start_date", "end_date"),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "frequencies.txt": ("trip_id", "start_time", "end_time", "headway_secs"),
}


def parse_routes(t: Table) -> dict[str, Route]:
    c = t.col
    out: dict[str, Route] = {}
    for i, row in enumerate(t.rows):
        try:
            route = Route(
                route_id=cell(row, c("route_id")),
                agency_id=cell(row, c("agency_id")) or None,
                short_name=cell(row, c("route_short_name")),
                long_name=cell(row, c("route_long_name")),
                route_type=int(cell(row, c("route_type"))),
                color=cell(row, c("route_color")) or None,
                text_color=cell(row, c("route_text_color")) or None,
            )
        except ValueError as exc:
            raise row_error(t, i, exc) from None
        out[route.route_id] = route
    return out


def parse_stops(t: Table) -> dict[str, Stop]:
    c = t.col
    out: dict[str, Stop] = {}
    for i, row in enumerate(t.rows):
        try:
            location_type = int(cell(row, c("location_type")) or 0)
            lat_s, lon_s = cell(row, c("stop_lat")), cell(row, c("stop_lon"))
            if not (lat_s and lon_s) and location_type in (3, 4):
                lat, lon = math.nan, math.nan  # generic nodes and boarding areas may omit them
            else:
                lat, lon = float(lat_s), float(lon_s)
            stop = Stop(
                stop_id=cell(row, c("stop_id")),
                name=cell(row, c("stop_name")),
                lat=lat,
                lon=lon,
                code=cell(row, c("stop_code")) or None,
                location_type=location_type,
                parent_station=cell(row, c("parent_station")) or None,
            )
        except ValueError as exc:
            raise row_error(t, i, exc) from None
        out[stop.stop_id] = stop
    return out


def parse_trips(t: Table, routes: dict[str, Route]) -> dict[str, Trip]:
    c = t.col
    out: dict[str, Trip] = {}
    for i, row in enumerate(t.rows):
        route_id = cell(row, c("route_id"))
        if route_id not in routes:
            raise row_error(t, i, f"route_id {route_id!r} is not in routes.txt")
        direction = cell(row, c("direction_id"))
        if direction not in ("", "0", "1"):
            raise row_error(t, i, f"direction_id {direction!r} is not 0 or 1")
        trip = Trip(
            trip_id=cell(row, c("trip_id")),
            route_id=routes[route_id].route_id,
            service_id=cell(row, c("service_id")),
            headsign=cell(row, c("trip_headsign")) or None,
            direction_id=int(direction) if direction else None,
            block_id=cell(row, c("block_id")) or None,
            shape_id=cell(row, c("shape_id")) or None,
        )
        out[trip.trip_id] = trip
    return out


def parse_shapes(t: Table) -> dict[str, Shape]:
    # The second-biggest table: index rows directly (int() and float() ignore whitespace).
    ci, la, lo, sq = (t.columns[n] for n in REQUIRED_COLUMNS["shapes.txt"])
    cd = t.col("shape_dist_traveled")
    points: dict[str, list[tuple[int, float, float, float | None]]] = {}
    for i, row in enumerate(t.rows):
        dist_s = row[cd] if cd is not None else ""
        try:
            point = (
                int(row[sq]),
                float(row[la]),
                float(row[lo]),
                float(dist_s) if dist_s.strip() else None,
            )
        except ValueError as exc:
            raise row_error(t, i, exc) from None
        shape_id = row[ci].strip()
        pts = points.get(shape_id)
        if pts is None:
            pts = points[shape_id] = []
        pts.append(point)
    out: dict[str, Shape] = {}
    for shape_id, pts in points.items():
        pts.sort(key=lambda p: p[0])
        dists = [p[3] for p in pts]
        out[shape_id] = Shape(
            shape_id=shape_id,
            lats=tuple(p[1] for p in pts),
            lons=tuple(p[2] for p in pts),
            dist_traveled=None if None in dists else tuple(d for d in dists if d is not None),
        )
    return out


def parse_calendar(t: Table) -> dict[str, ServiceCalendar]:
    c = t.col
    out: dict[str, ServiceCalendar] = {}
    for i, row in enumerate(t.rows):
        flags = [cell(row, c(day)) for day in WEEKDAYS]
        if any(f not in ("0", "1") for f in flags):
            raise row_error(t, i, f"weekday flags {flags} must each be 0 or 1")
        try:
            sc = ServiceCalendar(
                service_id=cell(row, c("service_id")),
                weekdays=tuple(f == "1" for f in flags),  # type: ignore[arg-type]
                start_date=parse_gtfs_date(cell(row, c("start_date"))),
                end_date=parse_gtfs_date(cell(row, c("end_date"))),
            )
        except ValueError as exc:
            raise row_error(t, i, exc) from None
        out[sc.service_id] = sc
    return out


def parse_calendar_dates(t: Table) -> dict[str, Mapping[date, int]]:
    c = t.col
    out: dict[str, dict[date, int]] = {}
    for i, row in enumerate(t.rows):
        kind = cell(row, c("exception_type"))
        if kind not in ("1", "2"):
            raise row_error(t, i, f"exception_type {kind!r} must be 1 (added) or 2 (removed)")
        try:
            day = parse_gtfs_date(cell(row, c("date")))
        except ValueError as exc:
            raise row_error(t, i, exc) from None
        out.setdefault(cell(row, c("service_id")), {})[day] = int(kind)
    return {sid: MappingProxyType(days) for sid, days in out.items()}


def parse_frequencies(t: Table, trips: dict[str, Trip]) -> dict[str, tuple[Frequency, ...]]:
    c = t.col
    out: dict[str, list[Frequency]] = {}
    for i, row in enumerate(t.rows):
        trip_id = cell(row, c("trip_id"))
        if trip_id not in trips:
            raise row_error(t, i, f"trip_id {trip_id!r} is not in trips.txt")
        try:
            f = Frequency(
                trip_id=trip_id,
                start_s=parse_gtfs_time(cell(row, c("start_time"))),
                end_s=parse_gtfs_time(cell(row, c("end_time"))),
                headway_s=int(cell(row, c("headway_secs"))),
                exact_times=cell(row, c("exact_times")) == "1",
            )
        except ValueError as exc:
            raise row_error(t, i, exc) from None
        out.setdefault(trip_id, []).append(f)
    return {k: tuple(v) for k, v in out.items()}
