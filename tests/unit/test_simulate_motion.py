"""How simulated vehicles move, and the anomalies injected into their movement, on CARTA's feed."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from transitstream.config import load_settings
from transitstream.gtfs import Feed, haversine_m, load_feed
from transitstream.simulate import Fix, SimParams, Simulation
from transitstream.simulate.faults import STALL_CLEARANCE_M
from transitstream.simulate.generate import FALLBACK_START_S
from transitstream.simulate.gps import ACCURACY_PER_SIGMA, NOISE_CLIP_SIGMAS
from transitstream.simulate.motion import DWELL_S, MIN_SEGMENT_S

NOW = datetime(2026, 11, 25, 17, 46, 12, tzinfo=UTC)
SIGMA = 4.0
NOISE_MAX_M = NOISE_CLIP_SIGMAS * SIGMA * 1.3 + 0.2  # widest vehicle sigma, plus rounding


@pytest.fixture(scope="module")
def feed() -> Feed:
    return load_feed(load_settings().gtfs_path)


@pytest.fixture(scope="module")
def sim(feed: Feed) -> Simulation:
    params = SimParams(
        vehicles=30, duration_s=180, detours=3, stalls=3, jumps=3, gps_sigma_m=SIGMA, bad_rate=0
    )
    return Simulation.build(feed, params, now=NOW)


@pytest.fixture(scope="module")
def fixes(sim: Simulation) -> list[Fix]:
    return [f for tick in sim.ticks() for f in tick.fixes]


def by_vehicle(fixes: list[Fix]) -> dict[str, list[Fix]]:
    out: dict[str, list[Fix]] = defaultdict(list)
    for f in fixes:
        out[f.vehicle_id].append(f)
    return out


def test_all_requested_anomalies_are_placed_on_distinct_vehicles(sim: Simulation) -> None:
    kinds = sorted(a.kind for a in sim.anomalies)
    assert kinds == ["detour"] * 3 + ["jump"] * 3 + ["stall"] * 3
    assert len({a.vehicle_id for a in sim.anomalies}) == 9
    window = (sim.clock.event_ms(sim.clock.start_s), sim.clock.event_ms(sim.clock.end_s or 0))
    for a in sim.anomalies:
        assert window[0] < a.start_ms <= a.end_ms < window[1], a


def test_vehicles_only_move_forward_along_their_trip(fixes: list[Fix]) -> None:
    checked = 0
    for vehicle_fixes in by_vehicle(fixes).values():
        for _trip, group in itertools.groupby(vehicle_fixes, key=lambda f: f.trip_id):
            moving = [f for f in group if f.moving_leg]
            for a, b in itertools.pairwise(moving):
                assert b.dist_m >= a.dist_m, (a, b)
                checked += 1
    assert checked > 1000


def test_reported_positions_are_the_true_ones_plus_bounded_noise(
    sim: Simulation, fixes: list[Fix]
) -> None:
    """Off the faults, a fix is within the clipped noise of the point on the shape."""
    lines = {run.trip.trip_id: run.line for path in sim.paths for run in path.runs}
    errors = []
    for f in fixes:
        if f.fault is not None:
            continue
        on_shape = lines[f.trip_id].point_at(f.dist_m)
        assert haversine_m(on_shape.lat, on_shape.lon, f.true_lat, f.true_lon) < 0.01
        err = haversine_m(f.body["lat"], f.body["lon"], f.true_lat, f.true_lon)
        assert err <= NOISE_MAX_M, f
        assert f.body["accuracy"] == pytest.approx(ACCURACY_PER_SIGMA * SIGMA, rel=0.31)
        errors.append(err)
    mean = sum(errors) / len(errors)
    assert 0.7 * SIGMA < mean < 2.0 * SIGMA  # noise is there, and of the asked size


def test_true_arrivals_are_in_stop_order_each_after_the_previous_stop(sim: Simulation) -> None:
    runs = [run for path in sim.paths for run in path.runs]
    assert len(runs) > 20
    for run in runs:
        reached = [v for v in run.visits if v.arrival_s is not None]
        assert [v.stop_sequence for v in reached] == sorted(v.stop_sequence for v in reached)
        for a, b in itertools.pairwise(reached):
            assert a.departure_s is not None and b.arrival_s is not None
            assert b.arrival_s >= a.departure_s + MIN_SEGMENT_S - 1e-9
            assert a.arrival_s is not None and b.arrival_s > a.arrival_s


def test_the_arrival_stream_holds_each_vehicle_trip_in_stop_order(sim: Simulation) -> None:
    rows = [a for tick in sim.ticks() for a in tick.arrivals]
    assert len(rows) > 200
    lo, hi = sim.clock.event_ms(sim.clock.start_s), sim.clock.event_ms(sim.clock.end_s or 0)
    per_trip: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for a in rows:
        assert lo < a.true_ms <= hi
        per_trip[(a.vehicle_id, a.trip_id)].append((a.stop_sequence, a.true_ms))
    for visits in per_trip.values():
        assert visits == sorted(visits)
        assert [t for _, t in visits] == sorted(t for _, t in visits)


def test_vehicles_dwell_at_some_stops_and_pass_others(sim: Simulation) -> None:
    dwells = [
        v.departure_s - v.arrival_s
        for path in sim.paths
        for run in path.runs
        for v in run.visits[1:-1]
        if v.arrival_s is not None and v.departure_s is not None
    ]
    stopped = [d for d in dwells if d > 0]
    assert len(stopped) > 0.15 * len(dwells)
    assert len(stopped) < 0.8 * len(dwells)
    assert sum(DWELL_S[0] <= d <= DWELL_S[1] for d in stopped) > 0.5 * len(stopped)


def test_a_stall_holds_the_vehicle_in_place_for_minutes(sim: Simulation, fixes: list[Fix]) -> None:
    stalls = [a for a in sim.anomalies if a.kind == "stall"]
    vehicles = by_vehicle(fixes)
    for anomaly in stalls:
        assert 300_000 <= anomaly.end_ms - anomaly.start_ms <= 900_000
        during = [f for f in vehicles[anomaly.vehicle_id] if f.fault == "stall"]
        assert len(during) >= 20
        assert all(anomaly.start_ms <= f.body["ts"] <= anomaly.end_ms for f in during)
        assert len({(f.true_lat, f.true_lon) for f in during}) == 1
        assert all(f.body["speed"] == 0 for f in during)
        first = during[0].body
        for f in during:
            spread = haversine_m(first["lat"], first["lon"], f.body["lat"], f.body["lon"])
            assert spread <= 2 * NOISE_MAX_M
        after = [f for f in vehicles[anomaly.vehicle_id] if f.body["ts"] > anomaly.end_ms]
        assert after and after[-1].dist_m > during[0].dist_m  # it moves on afterwards


def test_a_stall_stands_clear_of_every_stop_and_ends_inside_the_window(sim: Simulation) -> None:
    """Standing at a stop is a dwell; a stall still going at the window's end is never seen."""
    runs = {(p.vehicle_id, leg.run.trip.trip_id): leg.run for p in sim.paths for leg in p.legs}
    window_end = sim.clock.event_ms(sim.clock.end_s or 0)
    stalls = [a for a in sim.anomalies if a.kind == "stall"]
    assert stalls
    for anomaly in stalls:
        run = runs[(anomaly.vehicle_id, anomaly.trip_id)]
        assert run.stall is not None
        gaps = [abs(run.stall.dist_m - visit.dist_m) for visit in run.visits]
        assert min(gaps) >= STALL_CLEARANCE_M, anomaly
        assert anomaly.end_ms < window_end, anomaly


def test_a_window_in_the_night_replays_the_morning_peak_and_says_so(feed: Feed) -> None:
    night = datetime(2026, 11, 25, 9, 20, tzinfo=UTC)  # 04:20 in Chattanooga: one bus out
    params = SimParams(vehicles=8, duration_s=20, speedup=30, realtime=False)
    sim = Simulation.build(feed, params, now=night)
    assert len(sim.paths) == 8
    assert sim.clock.start_s == FALLBACK_START_S
    assert "replaying 08:00:00 instead" in sim.notes[0]
    assert sim.clock.event_ms(sim.clock.end_s or 0) <= night.timestamp() * 1000
    pinned = Simulation.build(feed, replace(params, start_s=4 * 3600 + 10 * 60), now=night)
    assert len(pinned.paths) < 8  # an explicit --start is obeyed, thin or not


def test_a_detour_leaves_the_shape_by_hundreds_of_metres_then_rejoins(
    sim: Simulation, fixes: list[Fix]
) -> None:
    runs = {(p.vehicle_id, r.trip.trip_id): r for p in sim.paths for r in p.runs}
    vehicles = by_vehicle(fixes)
    for anomaly in (a for a in sim.anomalies if a.kind == "detour"):
        run = runs[(anomaly.vehicle_id, anomaly.trip_id)]
        assert run.detour is not None
        assert 300 <= run.detour.offset_m <= 800
        mine = vehicles[anomaly.vehicle_id]
        plateau = [f for f in mine if f.fault == "detour" and f.offset_m >= run.detour.offset_m - 1]
        assert len(plateau) >= 2
        for f in plateau:
            assert anomaly.start_ms <= f.body["ts"] <= anomaly.end_ms
            off = run.line.project((f.body["lat"], f.body["lon"])).offset_m
            assert off > 250, f
        back = [f for f in mine if f.trip_id == anomaly.trip_id and f.body["ts"] > anomaly.end_ms]
        assert back, "the vehicle is seen after it rejoins"
        assert run.line.project((back[0].body["lat"], back[0].body["lon"])).offset_m < NOISE_MAX_M
        skipped = [v for v in run.visits if run.detour.d0_m < v.dist_m < run.detour.d1_m]
        assert all(v.arrival_s is None for v in skipped)


def test_a_gps_jump_is_one_fix_kilometres_away_then_back(sim: Simulation, fixes: list[Fix]) -> None:
    vehicles = by_vehicle(fixes)
    for anomaly in (a for a in sim.anomalies if a.kind == "jump"):
        mine = vehicles[anomaly.vehicle_id]
        i = next(i for i, f in enumerate(mine) if f.fault == "jump")
        jump, before, after = mine[i], mine[i - 1], mine[i + 1]
        assert jump.body["ts"] == anomaly.start_ms == anomaly.end_ms
        assert sum(f.fault == "jump" for f in mine) == 1
        away = haversine_m(jump.body["lat"], jump.body["lon"], jump.true_lat, jump.true_lon)
        assert away > 1000
        for other in (before, after):
            gap = haversine_m(
                jump.body["lat"], jump.body["lon"], other.body["lat"], other.body["lon"]
            )
            assert gap > 1000
        back = haversine_m(after.body["lat"], after.body["lon"], after.true_lat, after.true_lon)
        assert back <= NOISE_MAX_M


def test_layovers_report_the_next_trip_at_rest_at_its_first_stop(
    sim: Simulation, fixes: list[Fix]
) -> None:
    waiting = [f for f in fixes if not f.moving_leg]
    assert waiting, "some vehicle waits at a terminal in a 30-minute window"
    first_stop = {r.trip.trip_id: r.visits[0].dist_m for p in sim.paths for r in p.runs}
    for f in waiting:
        assert f.body["speed"] == 0
        assert f.dist_m == first_stop[f.trip_id]
