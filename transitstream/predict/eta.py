"""Arrival predictions for every stop ahead of a vehicle on its trip.

predicted arrival = now + the remaining travel time, summed segment by segment:

* each segment takes what the segment model expects (`segments.expected_s`: learned from every
  vehicle of the route, shrunk toward the timetable where history is thin);
* times the vehicle's own pace on this trip (observed / expected over its last segments), whose
  deviation from 1 fades with the horizon: traffic that slows a bus now says less about the
  segment it drives in half an hour;
* and the bus holds at a timepoint until its scheduled departure when early.

The vehicle's current delay persists in full, because the sum starts from now and where the bus
is; what pulls it back toward the timetable is what does so on the street: timepoint holds
(earliness) and segments driven faster than scheduled (lateness, via the learned line). A
separate "delay decays toward the timetable" term was tried and dropped: against the
simulator's ground truth, subtracting delay * (1 - exp(-horizon / tau)) raised the mean error
at 20+ minutes from 147 s to 158-188 s for tau from 2 h down to 30 min, and at every shorter
horizon too. Delays persist along a trip; they fade only where the timetable has slack.
"""

from __future__ import annotations

import math

from transitstream.config import PredictSettings
from transitstream.predict.catalog import TripPlan
from transitstream.predict.segments import segment_times
from transitstream.predict.state import Prediction, SegmentState, VehicleState


def pace(v: VehicleState, s: PredictSettings) -> float:
    """Observed / expected segment time of this vehicle, shrunk toward 1 by `pace_prior_s`."""
    return (v.pace_obs_s + s.pace_prior_s) / (v.pace_exp_s + s.pace_prior_s)


def departure_s(plan: TripPlan, v: VehicleState, now_s: float, s: PredictSettings) -> float:
    """When a bus still at its first stop will leave: not before its timetable, not before now,
    and not before a minimal layover since it got there (a late bus still recovers briefly)."""
    day = v.day_start_ms / 1000.0
    return max(now_s, day + plan.dep_s[0], v.trip_seen_ms / 1000.0 + s.min_layover_s)


def predict_arrivals(
    plan: TripPlan, v: VehicleState, segments: SegmentState, now_ms: int, s: PredictSettings
) -> list[Prediction]:
    """One prediction per stop not yet reached (`v.next_stop` on), in stop order."""
    return as_predictions(plan, v, arrival_times(plan, v, segments, now_ms, s), now_ms)


def as_predictions(
    plan: TripPlan, v: VehicleState, times: list[float], now_ms: int
) -> list[Prediction]:
    """`arrival_times`' numbers as `Prediction` records."""
    k0 = first_predicted(v)
    return [make_prediction(plan, v, k0 + i, t, now_ms, "model") for i, t in enumerate(times)]


def first_predicted(v: VehicleState) -> int:
    """The stop `arrival_times` starts at: the first not yet reached, but never the trip's first
    stop (the bus is there already, or has left it)."""
    return max(v.next_stop, 1)


def arrival_times(
    plan: TripPlan, v: VehicleState, segments: SegmentState, now_ms: int, s: PredictSettings
) -> list[float]:
    """Predicted arrival (epoch seconds) at each stop ahead: item i is stop
    `first_predicted(v) + i`. Bare numbers, so a caller that publishes only some of them (the
    stream job, see `stream.publish`) builds no record for the others."""
    n = len(plan.stop_ids)
    k0 = v.next_stop
    if k0 >= n:
        return []
    now = now_ms / 1000.0
    day = v.day_start_ms / 1000.0
    dev = pace(v, s) - 1.0
    tau = s.pace_tau_s
    times: list[float] = []
    first = 0 if not v.departed or k0 == 0 else k0 - 1
    seg = segment_times(segments, plan, first, s)  # seg[i] is segment first + i
    dep, tp = plan.dep_s, plan.timepoint
    if first == 0 and (not v.departed or k0 == 0):
        j, t = 0, departure_s(plan, v, now, s)
    else:
        r = k0 - 1
        length = plan.dist_m[k0] - plan.dist_m[r]
        frac = min(max((plan.dist_m[k0] - v.dist_m) / length, 0.0), 1.0) if length > 0 else 0.0
        start = now
        if tp[r] and v.dist_m - plan.dist_m[r] <= s.stop_radius_m:
            start = max(now, day + dep[r])  # holding at the timepoint it is at
        t = start + seg[0] * (1.0 + dev) * frac
        times.append(t)
        j = k0
        if tp[j] and j < n - 1:
            t = max(t, day + dep[j])
    exp, append, last = math.exp, times.append, n - 1
    while j < last:
        t += seg[j - first] * (1.0 + dev * exp((now - t) / tau))
        j += 1
        if j >= k0:
            append(t)
        if tp[j] and j < last:
            hold = day + dep[j]
            if hold > t:
                t = hold
    return times


def make_prediction(
    plan: TripPlan, v: VehicleState, k: int, t_s: float, now_ms: int, method: str
) -> Prediction:
    predicted = round(t_s * 1000)
    return Prediction(
        stop_id=plan.stop_ids[k],
        stop_sequence=plan.stop_sequences[k],
        vehicle_id=v.vehicle_id,
        trip_id=plan.trip_id,
        route_id=plan.route_id,
        predicted_time=predicted,
        prediction_time=now_ms,
        horizon_s=(predicted - now_ms) / 1000.0,
        scheduled_time=v.day_start_ms + plan.arr_s[k] * 1000,
        method=method,
    )
