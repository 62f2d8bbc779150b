"""Stop-to-stop travel times learned from the stream, shrunk toward the timetable where thin.

A segment's estimate has three levels, each weighted by how much it has seen:

* the fleet's line `observed = a * scheduled + b`, fitted by exponentially weighted least
  squares over every traversal and shrunk toward the timetable (a = 1, b = 0) by
  `route_prior_weight` pseudo-observations. Pooled over the fleet it is learned within minutes,
  and it captures what a plain ratio cannot: a 5-second timetable hop that ends at a stop takes
  10 s (the dwell, `b`), while a long fast stretch runs under its schedule (`a` < 1);
* the route's line, fitted the same way and shrunk toward the fleet's;
* the segment's own exponentially weighted residual from that line, counted in at
  n / (n + `segment_prior_weight`): what is peculiar to this stretch of road.

Traversals are timed from passing one stop to passing the next, so they include the dwell at the
first stop; at a timepoint, from the later of passing it and its scheduled departure, since the
bus holds there when early and the ETA applies that hold itself.
"""

from __future__ import annotations

from transitstream.config import PredictSettings
from transitstream.predict.catalog import TripPlan
from transitstream.predict.state import (
    RouteStat,
    SegmentObservation,
    SegmentStat,
    SegmentState,
)

SLOPE_RANGE = (0.3, 3.0)
"""A fitted slope outside this is a degenerate fit (e.g. all traversals of one length)."""
CLIP_FLOOR_S = 10.0
"""Clipping bounds are relative to at least this many seconds, so a 2-second hop can be seen
taking 15 s (a dwell) without being clipped."""

Line = tuple[float, float]


FLEET = "*"
"""The key of the fleet-wide line in `SegmentState.routes`: every route's traversals together."""


def fit_line(st: RouteStat | None, prior: Line, weight: float) -> Line:
    """(a, b) of observed = a * scheduled + b by least squares over `st`, with `weight`
    pseudo-traversals lying on the `prior` line at the scheduled times `st` has seen: ridge
    regression toward the prior, in units a reader can weigh against real observations."""
    if st is None or st.w <= 0:
        return prior
    a0, b0 = prior
    mx, mxx = st.x / st.w, st.xx / st.w
    sw, sx, sy = st.w + weight, st.x + weight * mx, st.y + weight * (a0 * mx + b0)
    sxx, sxy = st.xx + weight * mxx, st.xy + weight * (a0 * mxx + b0 * mx)
    det = sxx * sw - sx * sx
    if det > 1e-9 * max(sxx * sw, 1.0):
        a = (sxy * sw - sx * sy) / det
        if SLOPE_RANGE[0] <= a <= SLOPE_RANGE[1]:
            return a, (sxx * sy - sx * sxy) / det
    # All traversals of one length (or a wild slope): keep the prior's slope, shift its offset.
    return a0, b0 + (st.y - a0 * st.x - b0 * st.w) / sw


def route_line(state: SegmentState, route_id: str, s: PredictSettings) -> Line:
    """The route's line, shrunk toward the fleet's line, itself shrunk toward the timetable
    (a = 1, b = 0): a route seen a few times borrows what every route has shown, which in a
    city is most of it (the same traffic, the same dwell habits)."""
    fleet = fit_line(state.routes.get(FLEET), (1.0, 0.0), s.fleet_prior_weight)
    return fit_line(state.routes.get(route_id), fleet, s.route_prior_weight)


def estimate_s(
    state: SegmentState,
    key: str,
    route_id: str,
    sched_s: float,
    s: PredictSettings,
    line: Line | None = None,
) -> float:
    """Expected traversal seconds of segment `key` whose timetable says `sched_s`; pass the
    route's `line` when estimating many segments of one route at once."""
    a, b = route_line(state, route_id, s) if line is None else line
    base = max(a * max(sched_s, 0.0) + b, 0.0)
    st = state.stats.get(key)
    if st is None:
        return base
    n = min(st.n, 1.0 / s.segment_alpha)
    residual = st.obs_s - (a * st.sched_s + b)
    return max(base + residual * n / (n + s.segment_prior_weight), 0.0)


def expected_s(
    state: SegmentState, plan: TripPlan, k: int, s: PredictSettings, line: Line | None = None
) -> float:
    """Expected seconds of the plan's segment k (stop k to stop k + 1)."""
    key, sched = plan.segment_key(k), plan.sched_segment_s(k)
    return estimate_s(state, key, plan.route_id, sched, s, line)


def segment_times(
    state: SegmentState, plan: TripPlan, first: int, s: PredictSettings
) -> list[float]:
    """`expected_s` of segments `first` .. last of the plan, in one pass (the ETA's hot loop:
    the same arithmetic, without a call and a route fit per segment)."""
    a, b = route_line(state, plan.route_id, s)
    get, w0, cap = state.stats.get, s.segment_prior_weight, 1.0 / s.segment_alpha
    out: list[float] = []
    append = out.append
    keys = plan.segment_keys
    for key, arr, dep in zip(
        keys[first:], plan.arr_s[first + 1 :], plan.dep_s[first:-1], strict=True
    ):
        sched = arr - dep
        base = a * (sched if sched > 0 else 0) + b
        st = get(key)
        if st is not None:
            n = st.n if st.n < cap else cap
            base += (st.obs_s - (a * st.sched_s + b)) * n / (n + w0)
        append(base if base > 0.0 else 0.0)
    return out


def _ew(stat: SegmentStat | None, obs: float, sched: float, alpha: float) -> SegmentStat:
    if stat is None:
        return SegmentStat(obs, sched, 1)
    # The first few observations are averaged evenly, so one early outlier does not stick.
    a = max(alpha, 1.0 / (stat.n + 1))
    return SegmentStat(
        stat.obs_s + a * (obs - stat.obs_s), stat.sched_s + a * (sched - stat.sched_s), stat.n + 1
    )


def _fold(st: RouteStat, x: float, y: float, alpha: float) -> None:
    keep = 1.0 - alpha
    st.w = keep * st.w + 1.0
    st.x = keep * st.x + x
    st.y = keep * st.y + y
    st.xx = keep * st.xx + x * x
    st.xy = keep * st.xy + x * y
    st.n += 1


def learn(state: SegmentState, obs: SegmentObservation, s: PredictSettings) -> None:
    """Fold one traversal into its segment and its route, clipped to [1/c, c] of the current
    estimate: a traversal that included an unnoticed breakdown must not teach the model that
    the segment takes ten minutes."""
    expect = max(estimate_s(state, obs.key, obs.route_id, obs.scheduled_s, s), CLIP_FLOOR_S)
    seen = min(max(obs.observed_s, expect / s.ratio_clip), expect * s.ratio_clip)
    state.stats[obs.key] = _ew(state.stats.get(obs.key), seen, obs.scheduled_s, s.segment_alpha)
    for key in (obs.route_id, FLEET):
        line = state.routes.get(key)
        if line is None:
            line = state.routes[key] = RouteStat()
        _fold(line, obs.scheduled_s, seen, s.route_alpha)
