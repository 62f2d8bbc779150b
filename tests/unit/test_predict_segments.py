"""Learning segment times: convergence, shrinkage toward the timetable, robustness, plain state."""

from __future__ import annotations

import json
import pickle
import random

import pytest

from transitstream.config import PredictSettings
from transitstream.predict import (
    SegmentObservation,
    SegmentState,
    VehicleState,
    estimate_s,
    learn,
    route_line,
)

S = PredictSettings()


def traversals(n: int, seed: int = 1) -> list[SegmentObservation]:
    """A route whose buses drive at 0.8 x the timetable plus 6 s per stop, with noise."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sched = rng.choice([10.0, 20.0, 35.0, 60.0, 120.0])
        key = f"R|s{i % 40}|s{i % 40 + 1}|{sched:g}"
        obs = 0.8 * sched + 6.0 + rng.gauss(0, 3)
        out.append(SegmentObservation(key, "R", obs, sched, i))
    return out


def test_with_no_history_the_estimate_is_the_timetable() -> None:
    state = SegmentState()
    assert route_line(state, "R", S) == (1.0, 0.0)
    assert estimate_s(state, "R|a|b", "R", 42.0, S) == 42.0


def test_the_route_line_converges_to_how_the_route_really_drives() -> None:
    quick = PredictSettings(route_prior_weight=2.0, fleet_prior_weight=2.0)
    state = SegmentState()
    for obs in traversals(2000):
        learn(state, obs, quick)
    a, b = route_line(state, "R", quick)
    assert a == pytest.approx(0.8, abs=0.03)
    assert b == pytest.approx(6.0, abs=1.0)
    # A segment never seen gets the route's line, not its timetable.
    assert estimate_s(state, "R|new|seg", "R", 100.0, quick) == pytest.approx(86.0, abs=3.0)
    # With the default priors, history outweighs the timetable at steady state, not entirely:
    # the fleet is shrunk toward the timetable, the route toward the fleet.
    n = 1 / S.route_alpha
    fleet = (n * 0.8 + S.fleet_prior_weight) / (n + S.fleet_prior_weight)
    route = (n * 0.8 + S.route_prior_weight * fleet) / (n + S.route_prior_weight)
    assert route_line(state, "R", S)[0] == pytest.approx(route, abs=0.01)
    assert 0.8 < route < fleet < 1.0


def test_a_route_seen_a_few_times_borrows_the_fleets_line() -> None:
    state = SegmentState()
    for obs in traversals(2000):
        learn(state, obs, S)
    for i in range(3):
        learn(state, SegmentObservation(f"Q|a{i}|b{i}", "Q", 30.0, 30.0, i), S)
    a_q, b_q = route_line(state, "Q", S)
    a_r, b_r = route_line(state, "R", S)
    assert a_q < 0.9 and b_q > 2.0  # far from the timetable's (1, 0)...
    assert abs(a_q * 60 + b_q - (a_r * 60 + b_r)) < 3.0  # ...close to what the fleet shows


def test_thin_history_is_shrunk_toward_the_timetable() -> None:
    state = SegmentState()
    few = traversals(5)
    for obs in few:
        learn(state, obs, S)
    a, _ = route_line(state, "R", S)
    assert 0.8 < a <= 1.0  # five traversals move the line, but not all the way
    for obs in traversals(500, seed=2):
        learn(state, obs, S)
    assert route_line(state, "R", S)[0] < a


def test_a_segment_learns_what_is_peculiar_to_it() -> None:
    state = SegmentState()
    for obs in traversals(1000):
        learn(state, obs, S)
    key = "R|bridge|toll"
    assert estimate_s(state, key, "R", 30.0, S) < 40.0
    for i in range(30):
        learn(state, SegmentObservation(key, "R", 75.0, 30.0, i), S)  # always 75 s
    learned = estimate_s(state, key, "R", 30.0, S)
    a, b = route_line(state, "R", S)
    route_says = a * 30.0 + b
    weight = (1 / S.segment_alpha) / (1 / S.segment_alpha + S.segment_prior_weight)
    assert learned == pytest.approx(route_says + (75.0 - route_says) * weight, abs=0.5)
    assert route_says < 40.0 < learned


def test_a_breakdown_inside_a_traversal_is_clipped() -> None:
    state = SegmentState()
    for obs in traversals(500):
        learn(state, obs, S)
    key = "R|a|b"
    for i in range(5):
        learn(state, SegmentObservation(key, "R", 30.0, 30.0, i), S)
    before = estimate_s(state, key, "R", 30.0, S)
    learn(state, SegmentObservation(key, "R", 900.0, 30.0, 99), S)  # a 15-minute stall
    after = estimate_s(state, key, "R", 30.0, S)
    assert before < after < before * S.ratio_clip


def test_states_are_plain_data_that_pickle_and_serialise() -> None:
    segments = SegmentState()
    for obs in traversals(50):
        learn(segments, obs, S)
    again = pickle.loads(pickle.dumps(segments))
    assert again == segments
    assert SegmentState.from_dict(json.loads(json.dumps(segments.to_dict()))) == segments
    v = VehicleState("bus-1", trip_id="t", dist_m=12.5, open={"late": {"since_ms": 1, "peak": 2}})
    assert pickle.loads(pickle.dumps(v)) == v
    assert VehicleState.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    assert len(pickle.dumps(v)) < 1500
