"""Each trip's polyline and where its stops lie along it, in metres.

Stop distances are the backbone of ETAs (remaining distance = stop's distance - vehicle's), so
they must be monotone along the stop sequence. They come from the feed's `shape_dist_traveled`
when it is present and agrees with the geometry; otherwise stops are matched to the shape with a
small dynamic programme that picks, among the places each stop is close to the shape, the
sequence that moves forward with the least total offset, so loops and out-and-back routes keep
each stop on its own leg.
"""

from __future__ import annotations

import itertools
import logging
from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

from transitstream.gtfs.geometry import LatLon, haversine_m
from transitstream.gtfs.model import Feed, Shape, StopTime
from transitstream.gtfs.polyline import Polyline, Projection

log = logging.getLogger(__name__)

SHAPE_DIST_TOLERANCE_M = 100.0
"""A stop placed by shape_dist_traveled farther than this from the stop means the field is wrong."""
MATCH_SLACK_M = 150.0
"""Legs of the shape up to this much farther from a stop than the nearest are candidates too."""

Method = Literal["shape_dist_traveled", "matched", "straight"]


@dataclass(frozen=True, slots=True)
class TripShape:
    polyline: Polyline
    stop_distances_m: tuple[float, ...]  # aligned with feed.stop_times[trip_id]
    method: Method  # how the stop distances were found, for diagnostics


def shape_polyline(feed: Feed, shape_id: str) -> Polyline:
    key = ("polyline", shape_id)
    if key not in feed.cache:
        shape = feed.shapes[shape_id]
        feed.cache[key] = Polyline(shape.lats, shape.lons)
    return feed.cache[key]


def trip_shape(feed: Feed, trip_id: str) -> TripShape:
    """The trip's polyline and stop distances; computed once per distinct stop pattern."""
    trip = feed.trips[trip_id]
    stop_times = feed.stop_times[trip_id]
    stop_ids = tuple(st.stop_id for st in stop_times)
    shape = feed.shapes.get(trip.shape_id) if trip.shape_id is not None else None
    dists = tuple(st.shape_dist_traveled for st in stop_times)
    key = ("trip_shape", shape.shape_id if shape else None, stop_ids, dists if shape else None)
    cached = feed.cache.get(key)
    if cached is not None:
        return cached
    points = [(feed.stops[s].lat, feed.stops[s].lon) for s in stop_ids]
    result: TripShape
    if shape is None:
        line = Polyline.from_points(points)
        result = TripShape(line, line.cum_m, "straight")
    else:
        line = shape_polyline(feed, shape.shape_id)
        from_field = distances_from_shape_dist(line, shape, stop_times, points)
        if from_field is not None:
            result = TripShape(line, from_field, "shape_dist_traveled")
        else:
            log.debug(
                "trip %s: shape_dist_traveled unusable, matching stops to %s",
                trip_id,
                shape.shape_id,
            )
            result = TripShape(line, match_stops(line, points), "matched")
    feed.cache[key] = result
    return result


def trip_polyline(feed: Feed, trip_id: str) -> Polyline:
    return trip_shape(feed, trip_id).polyline


def stop_distances(feed: Feed, trip_id: str) -> tuple[float, ...]:
    """Metres along the trip's polyline of each of its stop_times, non-decreasing."""
    return trip_shape(feed, trip_id).stop_distances_m


def distances_from_shape_dist(
    line: Polyline,
    shape: Shape,
    stop_times: tuple[StopTime, ...],
    points: list[LatLon],
    tolerance_m: float = SHAPE_DIST_TOLERANCE_M,
) -> tuple[float, ...] | None:
    """Stop distances from the feed's shape_dist_traveled, or None if it cannot be trusted.

    The field's unit is the feed's choice (metres, km, feet), so a stop's value is located
    between the shape vertices that bracket it and converted to our metres there.
    """
    sd = shape.dist_traveled
    values = [st.shape_dist_traveled for st in stop_times]
    if sd is None or None in values or len(sd) != len(line):
        return None
    if any(b < a for a, b in itertools.pairwise(sd)):
        return None
    if any(b < a for a, b in itertools.pairwise(values)):  # type: ignore[operator]
        return None
    slack = 0.01 * (sd[-1] - sd[0])
    cum, last = line.cum_m, len(sd) - 2
    out = []
    for value, (lat, lon) in zip(values, points, strict=True):
        assert value is not None
        if not sd[0] - slack <= value <= sd[-1] + slack:
            return None
        i = min(max(bisect_right(sd, value) - 1, 0), last)
        span = sd[i + 1] - sd[i]
        frac = min(max((value - sd[i]) / span, 0.0), 1.0) if span > 0 else 0.0
        d = cum[i] + frac * (cum[i + 1] - cum[i])
        at = line.point_at(d)
        if haversine_m(lat, lon, at.lat, at.lon) > tolerance_m:
            return None
        out.append(d)
    return tuple(out)


def match_stops(
    line: Polyline, points: list[LatLon], slack_m: float = MATCH_SLACK_M
) -> tuple[float, ...]:
    """Monotone distances along `line` for stops visited in order, least total offset first.

    Each stop's candidates are the local minima of its distance to the line. When no candidate
    of a stop lies ahead of every candidate of the previous stop, the stop gets one more: its
    nearest point ahead of the previous stop's earliest candidate, so a path always exists.
    """
    if not points:
        return ()
    layers: list[list[Projection]] = []
    costs: list[list[float]] = []
    back: list[list[int]] = []
    for k, point in enumerate(points):
        cands = line.local_minima(point, slack_m)
        if k == 0:
            layers.append(cands)
            costs.append([c.offset_m for c in cands])
            back.append([-1] * len(cands))
            continue
        prev, prev_cost = layers[-1], costs[-1]
        floor = min(p.distance_m for p in prev)
        if all(c.distance_m < floor for c in cands):
            cands.append(line.project_between(point, floor, line.length_m))
        layer_cost, layer_back = [], []
        for c in cands:
            best, arg = float("inf"), -1
            for j, p in enumerate(prev):
                if p.distance_m <= c.distance_m and prev_cost[j] < best:
                    best, arg = prev_cost[j], j
            layer_cost.append(best + c.offset_m)
            layer_back.append(arg)
        # Drop candidates no earlier choice can reach, so `floor` above is always reachable.
        keep = [i for i, c in enumerate(layer_cost) if c != float("inf")]
        layers.append([cands[i] for i in keep])
        costs.append([layer_cost[i] for i in keep])
        back.append([layer_back[i] for i in keep])
    j = min(range(len(costs[-1])), key=costs[-1].__getitem__)
    out = []
    for k in range(len(points) - 1, -1, -1):
        out.append(layers[k][j].distance_m)
        j = back[k][j]
    out.reverse()
    return tuple(out)
