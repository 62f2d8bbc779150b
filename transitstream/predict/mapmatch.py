"""A fix on a known trip -> distance along the trip's shape, offset from it, and schedule deviation.

The hard part of map matching a bus is not the geometry but the ambiguity: loops, out-and-back
routes and CARTA's shapes, which detour into each stop and back, pass the same spot several
times. So a trip's first fix is matched against the timetable (the leg whose scheduled time is
nearest the event time wins), and every later fix is searched only in a window just behind to
some way ahead of the previous match, and the matched distance never goes backwards.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from transitstream.config import PredictSettings
from transitstream.gtfs import Projection
from transitstream.predict.catalog import Catalog, TripPlan

CUT_M = 1e-6
"""A piece's nearest point this close to a cut between pieces is the neighbour's, not a minimum."""


def candidate_days_ms(catalog: Catalog, ts_ms: int) -> list[int]:
    """Starts of the service days an event could belong to: its local date, the day before
    (a trip past midnight runs on yesterday's service, at GTFS times past 24:00) and the day
    after (an event just before midnight for a trip whose service day begins after it)."""
    local = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(ZoneInfo(catalog.timezone))
    day = local.date()
    return [catalog.day_start_ms(day + timedelta(days=k)) for k in (-1, 0, 1)]


def raw_deviation_s(plan: TripPlan, day_start_ms: int, d: float, ts_ms: int) -> float:
    return (ts_ms - day_start_ms) / 1000.0 - plan.sched_at(d)


def heading_ok(plan: TripPlan, c: Projection, bearing: float | None, s: PredictSettings) -> bool:
    """Whether the shape at `c` runs the way the bus is heading: the one thing that tells the
    two legs of an out-and-back street apart from a single fix. No heading: anything goes."""
    if bearing is None:
        return True
    along = plan.polyline.point_at(c.distance_m).bearing_deg
    return abs((along - bearing + 180.0) % 360.0 - 180.0) <= s.match_heading_deg


def _by_schedule(
    plan: TripPlan,
    cands: list[Projection],
    days: list[int],
    ts_ms: int,
    bearing: float | None,
    s: PredictSettings,
) -> tuple[Projection, int]:
    """The (candidate, day) with the smallest schedule deviation, among the candidates whose
    heading agrees with the bus's if any does."""
    agree = [c for c in cands if heading_ok(plan, c, bearing, s)] or cands
    best: tuple[float, float, Projection, int] | None = None
    for c in agree:
        for day_ms in days:
            key = (abs(raw_deviation_s(plan, day_ms, c.distance_m, ts_ms)), c.offset_m)
            if best is None or key < best[:2]:
                best = (key[0], key[1], c, day_ms)
    assert best is not None
    return best[2], best[3]


def initial_match(
    catalog: Catalog,
    plan: TripPlan,
    lat: float,
    lon: float,
    ts_ms: int,
    s: PredictSettings,
    bearing: float | None = None,
) -> tuple[Projection, int]:
    """The first fix of a trip: (projection, service-day start ms).

    Every place where the shape passes as near the fix as its nearest point (within
    `match_tie_m`: the legs of an out-and-back street) is a candidate, and so is each plausible
    service day. Candidates the bus is not heading along are dropped, then the pair with the
    smallest schedule deviation wins. The timetable only breaks ties between legs: a bus waiting
    late at its first stop must not be matched a few hundred metres on, where it would look on
    time.

    The service day is chosen this way because the event's calendar date does not say it: a
    trip scheduled at 25:10 belongs to yesterday's service and a trip starting just after
    midnight may report before it, while no bus runs anywhere near 12 hours off its timetable,
    so the day that makes the deviation smallest is the trip's day. It is kept for the rest of
    the trip, so a late-night bus's deviation stays continuous across midnight.
    """
    cands = plan.polyline.local_minima((lat, lon), s.match_tie_m)
    if not cands:  # a degenerate shape; the plain nearest point is all there is
        cands = [plan.polyline.project((lat, lon))]
    return _by_schedule(plan, cands, candidate_days_ms(catalog, ts_ms), ts_ms, bearing, s)


def relocate(
    plan: TripPlan,
    lat: float,
    lon: float,
    ts_ms: int,
    day_start_ms: int,
    s: PredictSettings,
    bearing: float | None = None,
) -> Projection | None:
    """Where on the whole shape a fix that is far from its search window lies, if it is on the
    shape at all (within `close_ratio` of `off_route_m`); None means it is really off-route.

    Tracking can lose a bus: a first fix on a spot the shape passes twice the same way may pick
    the wrong pass, and the window then never reaches the bus. A bus that is far from the window
    yet close to the shape elsewhere is such a case, not a detour.
    """
    cands = [
        c
        for c in plan.polyline.local_minima((lat, lon), s.match_tie_m)
        if c.offset_m <= s.off_route_m * s.close_ratio
    ]
    if not cands:
        return None
    return _by_schedule(plan, cands, [day_start_ms], ts_ms, bearing, s)[0]


def track_match(
    plan: TripPlan,
    lat: float,
    lon: float,
    prev_m: float,
    dt_s: float,
    speed_ms: float,
    s: PredictSettings,
    bearing: float | None = None,
) -> Projection:
    """A later fix, searched from a little behind the last match (GPS noise) to as far ahead as
    the bus could have driven since.

    Inside that window a shape can still pass the same street twice (a loop around a block, a
    spur into a stop and back). So the window is cut into `match_chunk_m` pieces, the nearest
    point of each piece that is not on a cut is a local candidate, and of the candidates about
    as near as the nearest (`match_tie_m`) and heading the bus's way, the one closest to where
    the bus should be at its recent speed wins.
    """
    line, point = plan.polyline, (lat, lon)
    lo = max(prev_m - s.match_back_m, 0.0)
    hi = min(prev_m + max(s.match_window_m, s.max_speed_ms * max(dt_s, 0.0)), line.length_m)
    if hi <= lo:
        return line.project_between(point, lo, lo, prefer_m=prev_m)
    n = max(1, math.ceil((hi - lo) / s.match_chunk_m))
    width = (hi - lo) / n
    cuts = [lo + i * width for i in range(n)] + [hi]
    cands: list[Projection] = []
    for i, p in enumerate(line.project_pieces(point, cuts, prefer_m=prev_m)):
        a, b = cuts[i], cuts[i + 1]
        on_cut = (i > 0 and p.distance_m <= a + CUT_M) or (i < n - 1 and p.distance_m >= b - CUT_M)
        if not on_cut:
            cands.append(p)
    if not cands:
        return line.project_between(point, lo, hi, prefer_m=prev_m)
    near = min(c.offset_m for c in cands) + s.match_tie_m
    close = [c for c in cands if c.offset_m <= near]
    if len(close) > 1:
        close = [c for c in close if heading_ok(plan, c, bearing, s)] or close
    expect = prev_m + max(speed_ms, 0.0) * max(dt_s, 0.0)
    return min(close, key=lambda c: abs(c.distance_m - expect))


def deviation_s(
    plan: TripPlan, day_start_ms: int, d: float, ts_ms: int, departed: bool, s: PredictSettings
) -> float:
    """Seconds late (> 0) or early (< 0) against the timetable at distance d.

    Before it departs, a bus at its first stop is only ever late (waiting is its layover, not
    earliness). At a stop whose timetable has a dwell (arrival < departure) any time inside that
    dwell is on time.
    """
    t = (ts_ms - day_start_ms) / 1000.0
    if not departed:
        return max(0.0, t - plan.dep_s[0])
    k = plan.next_stop(d, s.stop_radius_m) - 1  # the stop just behind, if within the radius
    if 0 <= k < len(plan.dist_m) and d - plan.dist_m[k] <= s.stop_radius_m:
        lo, hi = plan.arr_s[k], plan.dep_s[k]
        if lo < hi:
            return t - hi if t > hi else t - lo if t < lo else 0.0
    return t - plan.sched_at(d)
