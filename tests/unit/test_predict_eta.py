"""ETA arithmetic on a hand-made four-stop trip, where every expected number is worked out by hand.

The trip: stops at 0, 1000, 2000 and 3000 m; departs 1000 s; stop 1 at 1100 s; stop 2 (a
timepoint) arrives 1250 s and departs 1300 s; stop 3 at 1400 s. The service day starts at
epoch 0, so predicted times in ms are the seconds above times 1000.
"""

from __future__ import annotations

import math

import pytest

from transitstream.config import PredictSettings
from transitstream.gtfs import Polyline
from transitstream.predict import (
    Prediction,
    RouteStat,
    SegmentState,
    TripPlan,
    VehicleState,
    distance_speed,
    predict_arrivals,
    timetable,
)
from transitstream.predict.catalog import segment_keys

S = PredictSettings()
STOPS = ("s0", "s1", "s2", "s3")
PLAN = TripPlan(
    trip_id="t1",
    route_id="R",
    direction_id=0,
    polyline=Polyline.from_points([(35.0, -85.0), (35.027, -85.0)]),
    stop_ids=STOPS,
    stop_sequences=(1, 2, 3, 4),
    dist_m=(0.0, 1000.0, 2000.0, 3000.0),
    arr_s=(1000, 1100, 1250, 1400),
    dep_s=(1000, 1100, 1300, 1400),
    timepoint=(True, False, True, True),
    segment_keys=segment_keys("R", STOPS),
)
NOW_MS = 1_060_000


def vehicle(**kw: float | int | bool) -> VehicleState:
    """Half way between stop 0 and stop 1, departed, on a service day starting at epoch 0."""
    base: dict[str, float | int | bool] = {"dist_m": 500.0, "next_stop": 1, "departed": True}
    base.update(kw)
    return VehicleState("bus-1", trip_id="t1", route_id="R", **base)  # type: ignore[arg-type]


def seconds(preds: list[Prediction]) -> list[float]:
    return [p.predicted_time / 1000.0 for p in preds]


def test_timetable_times_and_a_timepoint_hold() -> None:
    preds = predict_arrivals(PLAN, vehicle(), SegmentState(), NOW_MS, S)
    # 1060 + half of segment 0 (100 s) = 1110; + segment 1 (150 s) = 1260, early at the
    # timepoint, so it leaves at 1300; + segment 2 (100 s) = 1400.
    assert seconds(preds) == pytest.approx([1110.0, 1260.0, 1400.0])
    first = preds[0]
    assert (first.stop_id, first.stop_sequence, first.vehicle_id) == ("s1", 2, "bus-1")
    assert (first.trip_id, first.route_id, first.method) == ("t1", "R", "model")
    assert first.prediction_time == NOW_MS and first.horizon_s == pytest.approx(50.0)
    assert [p.scheduled_time for p in preds] == [1_100_000, 1_250_000, 1_400_000]


def test_a_slow_vehicle_pace_stretches_every_segment() -> None:
    slow = vehicle(pace_obs_s=420.0, pace_exp_s=300.0)  # (420 + 300) / (300 + 300) = 1.2
    steady = PredictSettings(pace_tau_s=1e12)
    # 1060 + 50 * 1.2 = 1120; + 150 * 1.2 = 1300 (no hold needed); + 100 * 1.2 = 1420.
    assert seconds(predict_arrivals(PLAN, slow, SegmentState(), NOW_MS, steady)) == pytest.approx(
        [1120.0, 1300.0, 1420.0]
    )
    fading = PredictSettings(pace_tau_s=100.0)
    # factor 1 + 0.2 exp(-h / 100) at each segment's start: h = 0 s (the segment it is on),
    # then 60 s; arriving early at the timepoint it leaves at 1300 s, so h = 240 s.
    second = 1120.0 + 150 * (1 + 0.2 * math.exp(-0.6))
    assert second < 1300
    expected = [1120.0, second, 1300.0 + 100 * (1 + 0.2 * math.exp(-2.4))]
    got = seconds(predict_arrivals(PLAN, slow, SegmentState(), NOW_MS, fading))
    assert got == pytest.approx(expected, abs=0.01)


def test_a_learned_route_line_replaces_the_timetable() -> None:
    # Two traversals: (100 s scheduled, 60 s seen) and (200, 110): the line 0.5 x + 10.
    state = SegmentState(routes={"R": RouteStat(w=2, x=300, y=170, xx=50000, xy=28000, n=2)})
    exact = PredictSettings(route_prior_weight=0.0)
    # 1060 + (0.5 * 100 + 10) / 2 = 1090; + 0.5 * 150 + 10 = 1175, which is early at the
    # timepoint: it leaves at 1300, and arrives at the last stop 0.5 * 100 + 10 later.
    got = seconds(predict_arrivals(PLAN, vehicle(), state, NOW_MS, exact))
    assert got == pytest.approx([1090.0, 1175.0, 1360.0])


def test_a_bus_at_its_first_stop_leaves_after_its_layover_and_timetable() -> None:
    waiting = vehicle(dist_m=0.0, departed=False, trip_seen_ms=990_000)
    # departs at max(now 995, timetable 1000, arrived 990 + 60 s layover) = 1050.
    got = seconds(predict_arrivals(PLAN, waiting, SegmentState(), 995_000, S))
    assert got == pytest.approx([1150.0, 1300.0, 1400.0])


def test_baselines_timetable_and_distance_over_speed() -> None:
    assert seconds(timetable(PLAN, vehicle(), NOW_MS)) == [1100.0, 1250.0, 1400.0]
    moving = vehicle(speed_ms=5.0)
    assert seconds(distance_speed(PLAN, moving, NOW_MS, S)) == pytest.approx([1160, 1360, 1560])
    standing = vehicle(speed_ms=0.0)  # floored at baseline_min_speed_ms (3 m/s)
    assert seconds(distance_speed(PLAN, standing, NOW_MS, S))[0] == pytest.approx(1060 + 500 / 3)
    assert {p.method for p in timetable(PLAN, moving, NOW_MS)} == {"timetable"}


def test_nothing_is_predicted_past_the_last_stop() -> None:
    done = vehicle(dist_m=3000.0, next_stop=4)
    assert predict_arrivals(PLAN, done, SegmentState(), NOW_MS, S) == []
    assert (
        len(predict_arrivals(PLAN, vehicle(next_stop=3, dist_m=2500.0), SegmentState(), NOW_MS, S))
        == 1
    )
