"""A trip's path as a polyline measured in metres: the coordinate system of ETAs and map matching.

Distances along it are sums of haversine segment lengths, so they are true metres; the search for
the nearest segment runs in a local planar projection, where it is a few multiplications per
segment. Interpolation is linear in lat/lon, which that projection preserves, so `point_at` and
`project` are exact inverses on the line.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from transitstream.gtfs.geometry import LatLon, LocalProjection, haversine_m, planar_bearing_deg

DEFAULT_WINDOW_M = 500.0
TIE_M = 0.01  # offsets closer than 1 cm are a tie


class Projection(NamedTuple):
    distance_m: float  # along the polyline from its first vertex
    offset_m: float  # from the point to the polyline
    segment_index: int  # segment i joins vertices i and i + 1


class PointAt(NamedTuple):
    lat: float
    lon: float
    bearing_deg: float  # direction of travel, compass degrees


class Polyline:
    """Immutable after construction; `cum_m[i]` is the distance of vertex i from the start."""

    __slots__ = ("_ax", "_ay", "_bearing", "_dx", "_dy", "_len2", "_proj", "cum_m", "lats", "lons")

    def __init__(self, lats: Sequence[float], lons: Sequence[float]) -> None:
        if len(lats) != len(lons) or len(lats) < 2:
            raise ValueError(
                f"a polyline needs >= 2 vertices and as many lats as lons, got "
                f"{len(lats)} lats and {len(lons)} lons"
            )
        self.lats: tuple[float, ...] = tuple(lats)
        self.lons: tuple[float, ...] = tuple(lons)
        self._proj = LocalProjection.around(self.lats, self.lons)
        xy = [self._proj.to_xy(la, lo) for la, lo in zip(self.lats, self.lons, strict=True)]
        self._ax = [p[0] for p in xy[:-1]]
        self._ay = [p[1] for p in xy[:-1]]
        self._dx = [b[0] - a[0] for a, b in itertools.pairwise(xy)]
        self._dy = [b[1] - a[1] for a, b in itertools.pairwise(xy)]
        self._len2 = [dx * dx + dy * dy for dx, dy in zip(self._dx, self._dy, strict=True)]
        cum = [0.0]
        for i in range(len(self.lats) - 1):
            step = haversine_m(self.lats[i], self.lons[i], self.lats[i + 1], self.lons[i + 1])
            cum.append(cum[-1] + step)
        self.cum_m: tuple[float, ...] = tuple(cum)
        self._bearing = self._segment_bearings()

    @classmethod
    def from_points(cls, points: Iterable[LatLon]) -> Polyline:
        pts = list(points)
        return cls([p[0] for p in pts], [p[1] for p in pts])

    @property
    def length_m(self) -> float:
        return self.cum_m[-1]

    @property
    def segment_count(self) -> int:
        return len(self._dx)

    def __len__(self) -> int:
        return len(self.lats)

    def __repr__(self) -> str:
        return f"Polyline({len(self)} vertices, {self.length_m:.0f} m)"

    def _segment_bearings(self) -> list[float]:
        """Zero-length segments (repeated vertices) take their neighbour's heading."""
        out: list[float | None] = [
            planar_bearing_deg(dx, dy) if l2 > 0 else None
            for dx, dy, l2 in zip(self._dx, self._dy, self._len2, strict=True)
        ]
        last = next((b for b in out if b is not None), 0.0)
        for i, b in enumerate(out):
            if b is None:
                out[i] = last
            else:
                last = b
        return out  # type: ignore[return-value]

    def project(
        self, point: LatLon, near_m: float | None = None, window_m: float = DEFAULT_WINDOW_M
    ) -> Projection:
        """The nearest point of the line, or of its part within `window_m` of `near_m`.

        The window is what keeps map matching monotone: a bus on the way out of an out-and-back
        route must not snap to the way back, which runs along the same street.
        """
        if near_m is None:
            return self.project_between(point, 0.0, self.length_m)
        return self.project_between(point, near_m - window_m, near_m + window_m, prefer_m=near_m)

    def project_between(
        self, point: LatLon, lo_m: float, hi_m: float, prefer_m: float | None = None
    ) -> Projection:
        """The nearest point of the line whose distance along it lies in [lo_m, hi_m].

        Where the line retraces itself (CARTA's shapes detour to each stop and back) one spot has
        several distances; of points equally near (within `TIE_M`) the one closest to `prefer_m`
        wins, else the first.
        """
        return self.project_pieces(point, (lo_m, hi_m), prefer_m)[0]

    def project_pieces(
        self, point: LatLon, cuts: Sequence[float], prefer_m: float | None = None
    ) -> list[Projection]:
        """`project_between` for each piece [cuts[i], cuts[i + 1]] of a range, in one call: map
        matching asks this of several pieces at every fix, and the point's projection and the
        lookups are then done once (this is the stream job's hottest loop)."""
        px, py = self._proj.to_xy(point[0], point[1])
        length, cum, last = self.length_m, self.cum_m, self.segment_count - 1
        ax, ay, dxs, dys, len2s = self._ax, self._ay, self._dx, self._dy, self._len2
        out = []
        for lo_m, hi_m in itertools.pairwise(cuts):
            if lo_m > hi_m:
                raise ValueError(f"empty range [{lo_m}, {hi_m}]")
            # A range off the line's ends (a prediction past the terminus) means that end.
            lo_m = min(max(lo_m, 0.0), length)
            hi_m = min(max(hi_m, 0.0), length)
            first_i = min(max(bisect_left(cum, lo_m) - 1, 0), last)
            last_i = min(max(bisect_right(cum, hi_m) - 1, 0), last)
            ends = (first_i, last_i)  # only these segments can stick out of the range
            best_off, best_along, best_i, limit2 = math.inf, lo_m, first_i, math.inf
            for i in range(first_i, last_i + 1):
                dx, dy, l2 = dxs[i], dys[i], len2s[i]
                t = ((px - ax[i]) * dx + (py - ay[i]) * dy) / l2 if l2 > 0.0 else 0.0
                if i in ends:
                    seg = cum[i + 1] - cum[i]
                    t_lo = (lo_m - cum[i]) / seg if seg > 0.0 and lo_m > cum[i] else 0.0
                    t_hi = (hi_m - cum[i]) / seg if seg > 0.0 and hi_m < cum[i + 1] else 1.0
                    t = t_lo if t < t_lo else t_hi if t > t_hi else t
                else:
                    t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
                qx, qy = ax[i] + t * dx - px, ay[i] + t * dy - py
                d2 = qx * qx + qy * qy
                if d2 > limit2:
                    continue
                off, along = math.sqrt(d2), cum[i] + t * (cum[i + 1] - cum[i])
                if (
                    off < best_off - TIE_M
                    or (prefer_m is None and off < best_off)
                    or (prefer_m is not None and abs(along - prefer_m) < abs(best_along - prefer_m))
                ):
                    best_off, best_along, best_i = off, along, i
                    limit2 = (best_off + TIE_M) ** 2
            out.append(Projection(best_along, best_off, best_i))
        return out

    def local_minima(self, point: LatLon, slack_m: float) -> list[Projection]:
        """Every place where the line passes closest to `point` locally, within `slack_m` of the
        overall nearest: the candidates when a stop could belong to several legs of the line."""
        px, py = self._proj.to_xy(point[0], point[1])
        d2s: list[float] = []
        ts: list[float] = []
        for ax, ay, dx, dy, l2 in zip(
            self._ax, self._ay, self._dx, self._dy, self._len2, strict=True
        ):
            t = ((px - ax) * dx + (py - ay) * dy) / l2 if l2 > 0.0 else 0.0
            t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
            qx, qy = ax + t * dx - px, ay + t * dy - py
            d2s.append(qx * qx + qy * qy)
            ts.append(t)
        limit = (math.sqrt(min(d2s)) + slack_m) ** 2
        n, cum, out = len(d2s), self.cum_m, []
        for i, d2 in enumerate(d2s):
            # Of a run of equal distances (a shared vertex), keep the first.
            if d2 > limit or (i > 0 and d2s[i - 1] <= d2) or (i + 1 < n and d2s[i + 1] < d2):
                continue
            out.append(Projection(cum[i] + ts[i] * (cum[i + 1] - cum[i]), math.sqrt(d2), i))
        return out

    def point_at(self, distance_m: float) -> PointAt:
        """Where the line is `distance_m` from its start (clamped to its ends), and its heading."""
        d = min(max(distance_m, 0.0), self.length_m)
        i = min(bisect_right(self.cum_m, d) - 1, self.segment_count - 1)
        seg = self.cum_m[i + 1] - self.cum_m[i]
        t = (d - self.cum_m[i]) / seg if seg > 0.0 else 0.0
        lat = self.lats[i] + t * (self.lats[i + 1] - self.lats[i])
        lon = self.lons[i] + t * (self.lons[i + 1] - self.lons[i])
        return PointAt(lat, lon, self._bearing[i])
