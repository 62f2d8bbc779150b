"""The static GTFS reference: routes, stops, trips, timetables, shapes, and the geometry on them.

Everything here is pure and in-process: the simulator drives these trips, the stream job enriches
positions with them, the API names stops and routes from them.
"""

from transitstream.gtfs.feed import load_feed
from transitstream.gtfs.geometry import (
    EARTH_RADIUS_M,
    LatLon,
    LocalProjection,
    haversine_m,
    initial_bearing_deg,
)
from transitstream.gtfs.model import (
    Feed,
    Frequency,
    GtfsError,
    Route,
    ServiceCalendar,
    Shape,
    Stop,
    StopTime,
    Trip,
    format_gtfs_time,
    parse_gtfs_time,
)
from transitstream.gtfs.polyline import PointAt, Polyline, Projection
from transitstream.gtfs.service import (
    active_service_ids,
    default_service_date,
    is_active,
    service_day_start,
    service_range,
    trips_on,
)
from transitstream.gtfs.shapes import (
    TripShape,
    match_stops,
    shape_polyline,
    stop_distances,
    trip_polyline,
    trip_shape,
)

__all__ = [
    "EARTH_RADIUS_M",
    "Feed",
    "Frequency",
    "GtfsError",
    "LatLon",
    "LocalProjection",
    "PointAt",
    "Polyline",
    "Projection",
    "Route",
    "ServiceCalendar",
    "Shape",
    "Stop",
    "StopTime",
    "Trip",
    "TripShape",
    "active_service_ids",
    "default_service_date",
    "format_gtfs_time",
    "haversine_m",
    "initial_bearing_deg",
    "is_active",
    "load_feed",
    "match_stops",
    "parse_gtfs_time",
    "service_day_start",
    "service_range",
    "shape_polyline",
    "stop_distances",
    "trip_polyline",
    "trip_shape",
    "trips_on",
]
