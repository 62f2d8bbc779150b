"""The records of a static GTFS feed, immutable so one parsed feed can be shared by every caller.

Times are integer seconds since the start of the service day, because GTFS lets a trip that
begins before midnight run past it ("25:10:00"); a wall-clock `time` could not say that.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from transitstream.errors import TransitStreamError


class GtfsError(TransitStreamError):
    """The feed is missing a file or column, or holds a value we cannot read."""


@dataclass(frozen=True, slots=True)
class Route:
    route_id: str
    agency_id: str | None
    short_name: str
    long_name: str
    route_type: int
    color: str | None
    text_color: str | None

    @property
    def name(self) -> str:
        """Riders know a route by its short name ("10A"); fall back to the long one."""
        return self.short_name or self.long_name or self.route_id


@dataclass(frozen=True, slots=True)
class Stop:
    stop_id: str
    name: str
    lat: float
    lon: float
    code: str | None = None
    location_type: int = 0
    parent_station: str | None = None


@dataclass(frozen=True, slots=True)
class Trip:
    trip_id: str
    route_id: str
    service_id: str
    headsign: str | None = None
    direction_id: int | None = None
    block_id: str | None = None
    shape_id: str | None = None


@dataclass(frozen=True, slots=True)
class StopTime:
    """One stop of a trip. Blank times in the feed are interpolated at load (`timepoint` False)."""

    trip_id: str
    stop_sequence: int
    stop_id: str
    arrival_s: int
    departure_s: int
    shape_dist_traveled: float | None = None
    timepoint: bool = True


@dataclass(frozen=True, slots=True)
class Shape:
    """A shape's vertices in sequence order, kept as columns: a shape can hold thousands."""

    shape_id: str
    lats: tuple[float, ...]
    lons: tuple[float, ...]
    dist_traveled: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class ServiceCalendar:
    """A calendar.txt row: `weekdays[0]` is Monday, as in `date.weekday()`."""

    service_id: str
    weekdays: tuple[bool, bool, bool, bool, bool, bool, bool]
    start_date: date
    end_date: date


@dataclass(frozen=True, slots=True)
class Frequency:
    trip_id: str
    start_s: int
    end_s: int
    headway_s: int
    exact_times: bool = False


@dataclass(frozen=True, slots=True)
class Feed:
    """A loaded feed. Treat it as read-only: `load_feed` hands the same object to every caller.

    `cache` holds derived objects (polylines, stop distances) so they are computed once per feed.
    """

    source: Path
    routes: Mapping[str, Route]
    stops: Mapping[str, Stop]
    trips: Mapping[str, Trip]
    stop_times: Mapping[str, tuple[StopTime, ...]]
    shapes: Mapping[str, Shape]
    calendar: Mapping[str, ServiceCalendar]
    calendar_dates: Mapping[str, Mapping[date, int]]
    frequencies: Mapping[str, tuple[Frequency, ...]] = field(default_factory=dict)
    timezone: str | None = None
    cache: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    def trip_stops(self, trip_id: str) -> list[Stop]:
        """The stops a trip serves, in order (a stop visited twice appears twice)."""
        return [self.stops[st.stop_id] for st in self.stop_times[trip_id]]


def parse_gtfs_time(text: str) -> int:
    """Seconds since the service day's start; hours may pass 24 for trips that run past midnight."""
    parts = text.strip().split(":")
    if len(parts) != 3:
        raise ValueError(f"time {text!r} is not H:MM:SS")
    h, m, s = (int(p) for p in parts)
    if h < 0 or not 0 <= m < 60 or not 0 <= s < 60:
        raise ValueError(f"time {text!r} is out of range")
    return h * 3600 + m * 60 + s


def format_gtfs_time(seconds: int) -> str:
    """The inverse of `parse_gtfs_time`, so logs and tests show times the way the feed does."""
    if seconds < 0:
        raise ValueError(f"negative service time {seconds}")
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def parse_gtfs_date(text: str) -> date:
    text = text.strip()
    if len(text) != 8 or not text.isdigit():
        raise ValueError(f"date {text!r} is not YYYYMMDD")
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))
