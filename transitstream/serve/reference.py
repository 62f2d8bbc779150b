"""The static GTFS reference as the API serves it: loaded once per process, with ETags.

Stops, routes and shapes change only when the feed does, so their JSON is built once, hashed
for an ETag, and answered with 304 when a client already holds it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transitstream.gtfs import Feed, LocalProjection, load_feed
from transitstream.serve.models import RouteOut, RouteShape, StopOut

DEFAULT_COLOR = "#1f5fa8"
DEFAULT_TEXT = "#ffffff"


@dataclass(frozen=True)
class Document:
    """A JSON body and its strong ETag, computed once."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, payload: Any) -> Document:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _hex(color: str | None, default: str) -> str:
    return f"#{color.lower()}" if color and len(color) == 6 else default


def simplify(points: list[tuple[float, float]], tolerance_m: float) -> list[tuple[float, float]]:
    """Douglas-Peucker in a local plane: a map needs a few hundred vertices, not thousands."""
    if len(points) < 3 or tolerance_m <= 0:
        return points
    proj = LocalProjection.around([p[0] for p in points], [p[1] for p in points])
    xy = [proj.to_xy(la, lo) for la, lo in points]
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        (ax, ay), (bx, by) = xy[a], xy[b]
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        worst, index = -1.0, -1
        for i in range(a + 1, b):
            px, py = xy[i]
            if length2 == 0:
                d2 = (px - ax) ** 2 + (py - ay) ** 2
            else:
                t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
                d2 = (px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2
            if d2 > worst:
                worst, index = d2, i
        if index > 0 and worst > tolerance_m * tolerance_m:
            keep[index] = True
            stack += [(a, index), (index, b)]
    return [p for p, k in zip(points, keep, strict=True) if k]


@dataclass(frozen=True)
class Reference:
    feed: Feed
    stops: Document
    routes: Document
    shapes: Document  # built with the rest in the lifespan's thread: 0.4 s off the event loop

    def headsign(self, trip_id: str | None) -> str | None:
        trip = self.feed.trips.get(trip_id) if trip_id else None
        return trip.headsign if trip else None

    def route_name(self, route_id: str | None) -> str | None:
        route = self.feed.routes.get(route_id) if route_id else None
        return route.name if route else route_id

    def stop_name(self, stop_id: str | None) -> str | None:
        stop = self.feed.stops.get(stop_id) if stop_id else None
        return stop.name if stop else None


def route_shapes(feed: Feed, tolerance_m: float) -> list[dict[str, Any]]:
    by_route: dict[str, set[str]] = defaultdict(set)
    for trip in feed.trips.values():
        if trip.shape_id in feed.shapes:
            by_route[trip.route_id].add(trip.shape_id)  # type: ignore[arg-type]
    out = []
    for route_id in sorted(by_route):
        route = feed.routes.get(route_id)
        lines = []
        for shape_id in sorted(by_route[route_id]):
            shape = feed.shapes[shape_id]
            points = simplify(list(zip(shape.lats, shape.lons, strict=True)), tolerance_m)
            lines.append([(round(la, 5), round(lo, 5)) for la, lo in points])
        color = _hex(route.color if route else None, DEFAULT_COLOR)
        out.append(RouteShape(route_id=route_id, color=color, shapes=lines).model_dump())
    return out


def load_reference(gtfs_path: Path, shape_tolerance_m: float) -> Reference:
    feed = load_feed(gtfs_path)
    stop_routes: dict[str, set[str]] = defaultdict(set)
    for trip_id, stop_times in feed.stop_times.items():
        route_id = feed.trips[trip_id].route_id
        for st in stop_times:
            stop_routes[st.stop_id].add(route_id)
    routes = [
        RouteOut(
            route_id=r.route_id,
            name=r.name,
            long_name=r.long_name,
            route_type=r.route_type,
            color=_hex(r.color, DEFAULT_COLOR),
            text_color=_hex(r.text_color, DEFAULT_TEXT),
            timezone=feed.timezone or "UTC",
        ).model_dump()
        for r in sorted(feed.routes.values(), key=lambda r: (len(r.name), r.name))
    ]
    stops = [
        StopOut(
            stop_id=s.stop_id,
            name=s.name,
            lat=s.lat,
            lon=s.lon,
            code=s.code,
            routes=sorted(stop_routes.get(s.stop_id, ())),
        ).model_dump()
        for s in sorted(feed.stops.values(), key=lambda s: (s.name, s.stop_id))
    ]
    return Reference(
        feed=feed,
        stops=Document.of(stops),
        routes=Document.of(routes),
        shapes=Document.of(route_shapes(feed, shape_tolerance_m)),
    )
