"""The reference data the predictor reads: each trip's shape, stops and timetable, as flat tuples.

This is not state: it is derived from the static GTFS feed once per trip pattern and shared
read-only by every vehicle (a Spark job broadcasts the feed and builds one `Catalog` per
executor). Keeping the timetable as plain tuples makes the per-event work a few bisects.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date

from transitstream.gtfs import Feed, Polyline, service_day_start, trip_shape


@dataclass(frozen=True, slots=True)
class TripPlan:
    """One trip as the predictor sees it; index k of every tuple is the trip's k-th stop_time."""

    trip_id: str
    route_id: str
    direction_id: int
    polyline: Polyline
    stop_ids: tuple[str, ...]
    stop_sequences: tuple[int, ...]
    dist_m: tuple[float, ...]
    arr_s: tuple[int, ...]
    dep_s: tuple[int, ...]
    timepoint: tuple[bool, ...]
    segment_keys: tuple[str, ...]  # segment k joins stop k to stop k + 1

    @property
    def last(self) -> int:
        return len(self.stop_ids) - 1

    def segment_key(self, k: int) -> str:
        return self.segment_keys[k]

    def sched_segment_s(self, k: int) -> float:
        return float(self.arr_s[k + 1] - self.dep_s[k])

    def sched_at(self, d: float) -> float:
        """Scheduled service-day seconds at distance d: linear between departure and the next
        arrival, because the timetable says nothing finer."""
        dist = self.dist_m
        if d <= dist[0]:
            return float(self.dep_s[0])
        if d >= dist[-1]:
            return float(self.arr_s[-1])
        i = bisect_right(dist, d) - 1
        span = dist[i + 1] - dist[i]
        frac = (d - dist[i]) / span if span > 0 else 1.0
        return self.dep_s[i] + frac * (self.arr_s[i + 1] - self.dep_s[i])

    def next_stop(self, d: float, reached_m: float) -> int:
        """Index of the first stop not yet reached at distance d (len(stops) when all are)."""
        return bisect_right(self.dist_m, d + reached_m)


class Catalog:
    """Trip plans and service-day starts, computed on first use and cached."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.timezone = feed.timezone or "UTC"
        self._plans: dict[str, TripPlan | None] = {}
        self._day_starts: dict[date, int] = {}

    def plan(self, trip_id: str) -> TripPlan | None:
        """None for a trip the feed does not know (the stream may run ahead of the feed)."""
        if trip_id in self._plans:
            return self._plans[trip_id]
        trip = self.feed.trips.get(trip_id)
        sts = self.feed.stop_times.get(trip_id)
        plan = None
        if trip is not None and sts and len(sts) >= 2:
            shape = trip_shape(self.feed, trip_id)
            ids = tuple(st.stop_id for st in sts)
            plan = TripPlan(
                trip_id=trip_id,
                route_id=trip.route_id,
                direction_id=trip.direction_id or 0,
                polyline=shape.polyline,
                stop_ids=ids,
                stop_sequences=tuple(st.stop_sequence for st in sts),
                dist_m=shape.stop_distances_m,
                arr_s=tuple(st.arrival_s for st in sts),
                dep_s=tuple(st.departure_s for st in sts),
                timepoint=tuple(st.timepoint for st in sts),
                segment_keys=segment_keys(trip.route_id, ids),
            )
        self._plans[trip_id] = plan
        return plan

    def day_start_ms(self, day: date) -> int:
        """Epoch ms of the service day's start (GTFS: noon minus 12 h, local time)."""
        ms = self._day_starts.get(day)
        if ms is None:
            ms = round(service_day_start(day, self.timezone).timestamp() * 1000)
            self._day_starts[day] = ms
        return ms


def segment_keys(route_id: str, stop_ids: tuple[str, ...]) -> tuple[str, ...]:
    """Keyed by route and stop pair, not by trip, so every trip and pattern of the route that
    drives the pair learns it together; across routes roads differ too often to share."""
    return tuple(f"{route_id}|{a}|{b}" for a, b in itertools.pairwise(stop_ids))
