"""The per-vehicle step: one event in, the vehicle's new state and everything it produced out.

This is the function a stream processor calls for each event of a vehicle, in event-time order,
with that vehicle's state. It does no I/O and reads no clock, so a replay gives the same output.
It reads the shared `SegmentState` but does not change it: the traversals it observed come back
as `StepResult.observations`, for the caller to fold in with `segments.learn` (at once, as
`Predictor` does, or in a separate aggregation; see the package docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transitstream.config import PredictSettings
from transitstream.predict import anomalies as rules
from transitstream.predict.baselines import distance_speed, timetable
from transitstream.predict.catalog import Catalog, TripPlan
from transitstream.predict.mapmatch import deviation_s, initial_match, relocate, track_match
from transitstream.predict.segments import expected_s
from transitstream.predict.state import (
    Match,
    SegmentObservation,
    SegmentState,
    StepResult,
    VehicleState,
)


def step(
    event: Mapping[str, Any],
    state: VehicleState | None,
    segments: SegmentState,
    catalog: Catalog,
    s: PredictSettings,
    *,
    baselines: bool = False,
) -> tuple[VehicleState, StepResult]:
    """Advance `state` (mutated in place and returned; None for a vehicle never seen) by one
    validated position event (the ingest contract: vehicle_id, trip_id, lat, lon, ts, speed).

    Events at or before the last accepted one are skipped (duplicates, late arrivals): the state
    only moves forward. A fix implying an impossible jump is reported and otherwise ignored.
    Arrival predictions are not made here: they read the segment times, which should first
    learn from this fix's traversals (`Predictor.process`, `eta.predict_arrivals`).
    """
    v = state if state is not None else VehicleState(str(event["vehicle_id"]))
    res = StepResult()
    ts, lat, lon = int(event["ts"]), float(event["lat"]), float(event["lon"])
    if v.ts_ms and ts <= v.ts_ms:
        res.skipped = "not newer than the last fix"
        return v, res
    plan = catalog.plan(str(event["trip_id"]))
    if plan is None:
        res.skipped = "trip not in the feed"
        return v, res
    jump = rules.jump(v, lat, lon, ts, s)
    if jump is not None:
        v.jump_rejects += 1
        res.anomalies.append(jump)
        res.skipped = "impossible jump"
        return v, res
    v.jump_rejects = 0
    speed = float(event.get("speed") or 0.0)
    raw_bearing = event.get("bearing")
    bearing = float(raw_bearing) if raw_bearing is not None and speed > s.stall_speed_ms else None
    if plan.trip_id != v.trip_id:
        res.anomalies += rules.close_all(v, ts, "trip changed", s)
        start_trip(v, plan, catalog, lat, lon, ts, s, bearing)
    else:
        dt = (ts - v.ts_ms) / 1000.0
        proj = track_match(plan, lat, lon, v.dist_m, dt, v.progress_ms, s, bearing)
        lost = None
        if proj.offset_m > s.off_route_m:
            lost = relocate(plan, lat, lon, ts, v.day_start_ms, s, bearing)
        if lost is not None:
            reset_progress(v, plan, lost.distance_m, s)
            v.offset_m = lost.offset_m
        else:
            d = max(v.dist_m, proj.distance_m)
            v.progress_ms = (v.progress_ms + (d - v.dist_m) / dt) / 2.0 if dt > 0 else 0.0
            res.observations = advance(v, plan, segments, d, ts, s)
            v.offset_m = proj.offset_m
    v.ts_ms, v.lat, v.lon, v.speed_ms = ts, lat, lon, speed
    v.delay_s = deviation_s(plan, v.day_start_ms, v.dist_m, ts, v.departed, s)
    found = [rules.off_route(v, ts, s), rules.stalled(v, plan, lat, lon, speed, ts, s)]
    res.anomalies += [e for e in found if e is not None] + rules.schedule(v, ts, s)
    if rules.OFF_ROUTE in v.open or rules.STALLED in v.open:
        v.dirty = True
    nxt = plan.stop_ids[v.next_stop] if v.next_stop < len(plan.stop_ids) else None
    res.match = Match(v.dist_m, v.offset_m, v.next_stop, nxt, v.delay_s, v.departed)
    if baselines:
        res.baselines = timetable(plan, v, ts) + distance_speed(plan, v, ts, s)
    return v, res


def start_trip(
    v: VehicleState,
    plan: TripPlan,
    catalog: Catalog,
    lat: float,
    lon: float,
    ts: int,
    s: PredictSettings,
    bearing: float | None = None,
) -> None:
    """First fix on a trip: match it against the timetable and forget the last trip's progress
    (its pace too: a trip's traffic is its own). The standing-still anchor is kept: the bus did
    not move because its trip id changed."""
    proj, day_ms = initial_match(catalog, plan, lat, lon, ts, s, bearing)
    v.trip_id, v.route_id, v.day_start_ms = plan.trip_id, plan.route_id, day_ms
    reset_progress(v, plan, proj.distance_m, s)
    v.offset_m, v.trip_seen_ms = proj.offset_m, ts
    v.pace_obs_s = v.pace_exp_s = 0.0


def reset_progress(v: VehicleState, plan: TripPlan, d: float, s: PredictSettings) -> None:
    """Put the vehicle at distance d with no history of how it got there: no time at the last
    stop (so the segment it is on is not timed) and no speed."""
    v.dist_m, v.progress_ms, v.cross_ms, v.dirty = d, 0.0, 0, False
    v.departed = d > plan.dist_m[0] + s.departed_m
    v.next_stop = plan.next_stop(d, s.reached_m)
    if not v.departed:
        v.next_stop = max(v.next_stop, 1)


def _time_at(d0: float, t0: int, d1: float, t1: int, target: float) -> int:
    """When the vehicle passed `target` between two fixes, at constant speed between them."""
    if d1 <= d0:
        return t1
    frac = min(max((target - d0) / (d1 - d0), 0.0), 1.0)
    return round(t0 + frac * (t1 - t0))


def advance(
    v: VehicleState, plan: TripPlan, segments: SegmentState, d: float, ts: int, s: PredictSettings
) -> list[SegmentObservation]:
    """Move the vehicle to distance d: departure, stops passed, and the segments timed by them.

    A segment is timed only when both its stops were seen passed on this trip and no anomaly
    was open meanwhile (`dirty`): a detour or a breakdown says nothing about the segment.
    """
    out: list[SegmentObservation] = []
    d0, t0 = v.dist_m, v.ts_ms
    if not v.departed and d > plan.dist_m[0] + s.departed_m:
        v.departed = True
        v.cross_ms = _time_at(d0, t0, d, ts, plan.dist_m[0])
    k, n = v.next_stop, len(plan.stop_ids)
    while v.departed and k < n and plan.dist_m[k] <= d + s.reached_m:
        t_k = _time_at(d0, t0, d, ts, plan.dist_m[k] - s.reached_m)
        if k >= 1 and v.cross_ms and not v.dirty:
            start = v.cross_ms
            if plan.timepoint[k - 1] and k - 1 > 0:
                start = max(start, v.day_start_ms + plan.dep_s[k - 1] * 1000)
            observed = (t_k - start) / 1000.0
            if observed > 0:
                sched = plan.sched_segment_s(k - 1)
                out.append(
                    SegmentObservation(plan.segment_key(k - 1), plan.route_id, observed, sched, ts)
                )
                expect = expected_s(segments, plan, k - 1, s)
                seen = min(max(observed, expect / s.ratio_clip), expect * s.ratio_clip)
                keep = 1.0 - s.pace_alpha
                v.pace_obs_s = keep * v.pace_obs_s + seen
                v.pace_exp_s = keep * v.pace_exp_s + expect
        v.cross_ms, v.dirty = t_k, False
        k += 1
    v.next_stop = max(k, v.next_stop)
    v.dist_m = d
    return out
