"""The two baselines every ETA is compared with, made at the same instants for the same stops.

* timetable: the bus arrives when the schedule says (what a printed timetable promises);
* distance / speed: the remaining distance along the shape at the speed the device reports now,
  floored, because a bus standing at a stop would otherwise never arrive.

They share the prediction record and the stop selection with the model, so the comparison is of
the estimates only.
"""

from __future__ import annotations

from transitstream.config import PredictSettings
from transitstream.predict.catalog import TripPlan
from transitstream.predict.eta import make_prediction
from transitstream.predict.state import Prediction, VehicleState


def timetable(plan: TripPlan, v: VehicleState, now_ms: int) -> list[Prediction]:
    day = v.day_start_ms / 1000.0
    return [
        make_prediction(plan, v, k, day + plan.arr_s[k], now_ms, "timetable")
        for k in range(v.next_stop, len(plan.stop_ids))
    ]


def distance_speed(
    plan: TripPlan, v: VehicleState, now_ms: int, s: PredictSettings
) -> list[Prediction]:
    now, speed = now_ms / 1000.0, max(v.speed_ms, s.baseline_min_speed_ms)
    return [
        make_prediction(
            plan, v, k, now + max(plan.dist_m[k] - v.dist_m, 0.0) / speed, now_ms, "speed"
        )
        for k in range(v.next_stop, len(plan.stop_ids))
    ]
