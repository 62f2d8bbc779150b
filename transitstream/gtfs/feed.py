"""Load a static GTFS feed into immutable records, once per process.

The stdlib `csv` reader is enough: CARTA's 82k stop_times load in well under a second, and the
package stays free of pandas. A feed is cached by path and file stamps, so the simulator, the
stream job and the API in one process share one parse.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from types import MappingProxyType

from transitstream.gtfs.model import (
    Feed,
    Frequency,
    GtfsError,
    Route,
    ServiceCalendar,
    Shape,
    Stop,
    Trip,
    parse_gtfs_date,
    parse_gtfs_time,
)
from transitstream.gtfs.reader import FeedSource, Table, cell, row_error
from transitstream.gtfs.stop_times import build_stop_times

log = logging.getLogger(__name__)

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

_CACHE: dict[tuple[object, ...], Feed] = {}
_CACHE_SIZE = 4


def load_feed(path: str | Path | None = None, *, use_cache: bool = True) -> Feed:
    """The feed at `path` (a folder or a zip), by default Settings' `gtfs_path`."""
    if path is None:
        from transitstream.config import get_settings

        path = get_settings().gtfs_path
    path = Path(path).expanduser().resolve()
    key = (path, *_stamp(path))
    if use_cache and key in _CACHE:
        return _CACHE[key]
    with FeedSource(path) as src:
        feed = _parse(src)
    if use_cache:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = feed
    return feed


def _stamp(path: Path) -> tuple[object, ...]:
    """What changes when the feed's files do, so an edited feed is parsed again."""
    if path.is_dir():
        return tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(path.glob("*.txt"))
        )
    if path.is_file():
        st = path.stat()
        return (st.st_mtime_ns, st.st_size)
    return ()


def _table(src: FeedSource, name: str) -> Table:
    table = src.table(name, REQUIRED_COLUMNS[name])
    assert table is not None  # required tables raise instead of returning None
    return table


def _parse(src: FeedSource) -> Feed:
    routes = _routes(_table(src, "routes.txt"))
    stops = _stops(_table(src, "stops.txt"))
    trips = _trips(_table(src, "trips.txt"), routes)
    shapes_table = src.table("shapes.txt", REQUIRED_COLUMNS["shapes.txt"], optional=True)
    shapes = _shapes(shapes_table) if shapes_table is not None else {}
    calendar_table = src.table("calendar.txt", REQUIRED_COLUMNS["calendar.txt"], optional=True)
    dates_table = src.table(
        "calendar_dates.txt", REQUIRED_COLUMNS["calendar_dates.txt"], optional=True
    )
    if calendar_table is None and dates_table is None:
        raise GtfsError(
            f"{src.path} has neither calendar.txt nor calendar_dates.txt, so no trip ever runs; "
            "GTFS requires at least one of them."
        )
    calendar = _calendar(calendar_table) if calendar_table is not None else {}
    calendar_dates = _calendar_dates(dates_table) if dates_table is not None else {}
    stop_times = build_stop_times(_table(src, "stop_times.txt"), trips, stops)
    freq_table = src.table("frequencies.txt", REQUIRED_COLUMNS["frequencies.txt"], optional=True)
    frequencies = _frequencies(freq_table, trips) if freq_table is not None else {}

    short = [t for t in trips if len(stop_times.get(t, ())) < 2]
    if short:
        log.warning(
            "%s: dropped %d trip(s) with fewer than 2 stop_times (e.g. %s)",
            src.path,
            len(short),
            short[0],
        )
        for trip_id in short:
            del trips[trip_id]
            stop_times.pop(trip_id, None)
    shapeless = sum(1 for t in trips.values() if t.shape_id not in shapes)
    if False:
        log.warning(
            "%s: %d of %d trips have no usable shape (%s); their polylines are straight lines "
            "between their stops, so distances and map matching are approximate",
            src.path,
            shapeless,
            len(trips),
            "no shapes.txt" if not shapes else "shape_id missing or unknown",
        )
    services = set(calendar) | set(calendar_dates)
    unknown = {t.service_id for t in trips.values()} - services
    if unknown:
        log.warning(
            "%s: service_id(s) %s are in no calendar; those trips never run",
            src.path,
            sorted(unknown)[:5],
        )
    return Feed(
        source=src.path,
        routes=MappingProxyType(routes),
        stops=MappingProxyType(stops),
        trips=MappingProxyType(trips),
        stop_times=MappingProxyType(stop_times),
        shapes=MappingProxyType(shapes),
        calendar=MappingProxyType(calendar),
        calendar_dates=MappingProxyType(calendar_dates),
        frequencies=MappingProxyType(frequencies),
        timezone=_timezone(src),
    )


def _routes(t: Table) -> dict[str, Route]:
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


def _stops(t: Table) -> dict[str, Stop]:
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


def _trips(t: Table, routes: dict[str, Route]) -> dict[str, Trip]:
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


def _shapes(t: Table) -> dict[str, Shape]:
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


def _calendar(t: Table) -> dict[str, ServiceCalendar]:
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


def _calendar_dates(t: Table) -> dict[str, dict]:
    c = t.col
    out: dict[str, dict] = {}
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


def _frequencies(t: Table, trips: dict[str, Trip]) -> dict[str, tuple[Frequency, ...]]:
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


def _timezone(src: FeedSource) -> str | None:
    """The agency's timezone: service-day times are local to it."""
    table = src.table("agency.txt", (), optional=True)
    if table is None or not table.rows:
        return None
    return cell(table.rows[0], table.col("agency_timezone")) or None
