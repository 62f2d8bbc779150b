"""Distances and directions on the Earth, as pure functions on (lat, lon) degrees.

Haversine is exact enough for any leg; the equirectangular `LocalProjection` is what makes
map matching cheap: within a city it turns degrees into metres with two multiplications, and it is
linear, so a point interpolated in lat/lon lies exactly on the projected segment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG), the usual choice for haversine
_M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0

LatLon = tuple[float, float]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def initial_bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Compass bearing from the first point towards the second, in [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return _compass(math.degrees(math.atan2(x, y)))


def _compass(degrees: float) -> float:
    """Into [0, 360): a tiny negative angle modulo 360 rounds to 360.0, which is not a bearing."""
    wrapped = degrees % 360.0
    return 0.0 if wrapped >= 360.0 else wrapped


def planar_bearing_deg(dx: float, dy: float) -> float:
    """Bearing of a local east/north displacement; 0 for no displacement."""
    if dx == 0.0 and dy == 0.0:
        return 0.0
    return _compass(math.degrees(math.atan2(dx, dy)))


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """Equirectangular metres (x east, y north) around an origin; error < 0.5% within ~50 km."""

    lat0: float
    lon0: float
    kx: float = field(init=False, repr=False)  # metres per degree of longitude at lat0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kx", _M_PER_DEG * math.cos(math.radians(self.lat0)))

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * _M_PER_DEG

    def to_latlon(self, x: float, y: float) -> LatLon:
        return self.lat0 + y / _M_PER_DEG, self.lon0 + x / self.kx

    @classmethod
    def around(cls, lats: Sequence[float], lons: Sequence[float]) -> LocalProjection:
        """Centred on the points' bounding box, which keeps the scale error smallest."""
        return cls((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)


def closest_on_segment(
    px: float, py: float, ax: float, ay: float, bx: float, by: float
) -> tuple[float, float]:
    """(t, squared distance) of the point of segment AB nearest P, t in [0, 1] from A to B."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    if len2 == 0.0:
        t = 0.0
    else:
        t = ((px - ax) * dx + (py - ay) * dy) / len2
        t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
    qx, qy = ax + t * dx - px, ay + t * dy - py
    return t, qx * qx + qy * qy
