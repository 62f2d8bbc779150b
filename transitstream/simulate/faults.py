"""Injected anomalies (detours, long stalls, GPS jumps), placed so that each is seen whole.

Faults are planned on a first, fault-free plan of each vehicle's day: a fault is put where the
vehicle will be on a trip inside the window, at least two reports away from either end, so the
detectors downstream see the normal fixes before and after it. Detours and stalls change how a
vehicle moves, so its block is then planned again with them; jumps only move one reported fix.
Each vehicle gets at most one fault, so the ground truth has one cause per anomaly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitstream.gtfs import LocalProjection
from transitstream.simulate.motion import Detour, Stall, TripRun
from transitstream.simulate.vehicle import VehiclePath

DETOUR_OFFSET_M = (300.0, 800.0)
DETOUR_PLATEAU_M = (400.0, 1200.0)
DETOUR_MIN_CLEARANCE_M = 290.0
"""Every point of a detour's plateau is at least this far from any part of the shape."""
STALL_S = (300.0, 900.0)
STALL_CLEARANCE_M = 80.0
"""A stall stands at least this far from every stop: closer, it is a dwell, which no detector (and
no dispatcher) would call a stall. Well above the detectors' stop radius plus GPS noise."""
JUMP_M = (2000.0, 5000.0)
ATTEMPTS = 30


@dataclass(frozen=True)
class Jump:
    vehicle_id: str
    sim_ms: int
    east_m: float
    north_m: float


@dataclass(frozen=True)
class Anomaly:
    """One injected anomaly as the ground truth records it (times are event times, epoch ms)."""

    vehicle_id: str
    kind: str
    trip_id: str
    route_id: str
    start_ms: int
    end_ms: int
    detail: dict[str, Any]


@dataclass
class FaultPlan:
    motion: dict[str, dict[str, tuple[Detour | None, Stall | None]]] = field(default_factory=dict)
    jumps: dict[str, Jump] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _windows(path: VehiclePath, lo_s: float, hi_s: float) -> list[tuple[TripRun, float, float]]:
    """The moving parts of the path inside [lo_s, hi_s], as (run, from, to)."""
    out = []
    for leg in path.legs:
        a, b = max(leg.start_s, lo_s), min(leg.end_s, hi_s)
        if leg.moving and b > a:
            out.append((leg.run, a, b))
    return out


def _detour(run: TripRun, a: float, b: float, rng: random.Random) -> Detour | None:
    da, db = run.dist_speed_at(a)[0], run.dist_speed_at(b)[0]
    line = run.line
    for _ in range(ATTEMPTS):
        offset = rng.uniform(*DETOUR_OFFSET_M)
        length = 2 * offset + rng.uniform(*DETOUR_PLATEAU_M)
        if db - da < length:
            continue
        d0 = rng.uniform(da, db - length)
        d1 = d0 + length
        p0, p1 = line.point_at(d0), line.point_at(d1)
        proj = LocalProjection(p0.lat, p0.lon)
        cx, cy = proj.to_xy(p1.lat, p1.lon)
        chord = math.hypot(cx, cy)
        if chord < 0.5 * length:
            continue  # the shape loops back here: a parallel street is not well defined
        side = rng.choice((-1.0, 1.0))
        east, north = -cy / chord * offset * side, cx / chord * offset * side
        detour = Detour(d0, d1, east, north)
        ok = True
        d = d0 + offset
        while d <= d1 - offset and ok:
            at = line.point_at(d)
            bx, by = proj.to_xy(at.lat, at.lon)
            ok = (
                line.project(proj.to_latlon(bx + east, by + north)).offset_m
                >= DETOUR_MIN_CLEARANCE_M
            )
            d += 50.0
        if ok:
            return detour
    return None


def _stall(run: TripRun, a: float, b: float, rng: random.Random) -> Stall | None:
    """Stand on a moving leg, clear of every stop, reached after a and over (with fixes after it)
    by b: a stall that outlasts the window would never be seen whole."""
    wanted = rng.uniform(*STALL_S)
    times, dists = run.times, run.dists
    stops = [visit.dist_m for visit in run.visits]
    places = []
    for j in range(len(times) - 1):
        t0, t1, d0, d1 = times[j], times[j + 1], dists[j], dists[j + 1]
        if d1 - d0 < 2 * STALL_CLEARANCE_M or t1 <= a or t0 >= b:
            continue
        at = rng.uniform(d0 + STALL_CLEARANCE_M, d1 - STALL_CLEARANCE_M)
        reached = t0 + (t1 - t0) * (at - d0) / (d1 - d0)  # constant speed between knots
        duration = min(wanted, b - 30.0 - reached)
        clear = min((abs(at - d) for d in stops), default=math.inf) >= STALL_CLEARANCE_M
        if clear and a <= reached and duration >= STALL_S[0]:
            places.append(Stall(at, round(duration)))
    return rng.choice(places) if places else None


def plan_faults(
    paths: list[VehiclePath],
    lo_s: float,
    hi_s: float,
    margin_s: float,
    counts: dict[str, int],
    seed: int,
    report_ms: Callable[[str], list[int]],
) -> FaultPlan:
    """Pick vehicles and places for `counts` ({"detour": n, "stall": n, "jump": n})."""
    rng = random.Random(f"{seed}:faults")
    plan = FaultPlan()
    queue = sorted(paths, key=lambda p: p.vehicle_id)
    rng.shuffle(queue)
    used: set[str] = set()
    for kind in ("detour", "stall", "jump"):
        for k in range(counts.get(kind, 0)):
            placed = False
            for path in queue:
                if path.vehicle_id in used:
                    continue
                placed = _place(kind, path, lo_s + margin_s, hi_s - margin_s, rng, plan, report_ms)
                if placed:
                    used.add(path.vehicle_id)
                    break
            if not placed:
                plan.notes.append(f"no vehicle could take {kind} #{k + 1} inside the window")
    return plan


def _place(
    kind: str,
    path: VehiclePath,
    lo: float,
    hi: float,
    rng: random.Random,
    plan: FaultPlan,
    report_ms: Callable[[str], list[int]],
) -> bool:
    windows = _windows(path, lo, hi)
    rng.shuffle(windows)
    vid = path.vehicle_id
    if kind == "jump":
        moving = [
            t
            for t in report_ms(vid)
            if lo * 1000 <= t <= hi * 1000
            and (s := path.state_at(t / 1000)) is not None
            and s.moving_leg
        ]
        if not moving:
            return False
        size, angle = rng.uniform(*JUMP_M), rng.uniform(0.0, 2 * math.pi)
        t = rng.choice(moving)
        plan.jumps[vid] = Jump(vid, t, size * math.sin(angle), size * math.cos(angle))
        return True
    for run, a, b in windows:
        detour = _detour(run, a, b, rng) if kind == "detour" else None
        stall = _stall(run, a, b, rng) if kind == "stall" else None
        if detour or stall:
            plan.motion[vid] = {run.trip.trip_id: (detour, stall)}
            return True
    return False


def anomalies_of(
    paths: list[VehiclePath], plan: FaultPlan, event_ms: Callable[[float], int]
) -> list[Anomaly]:
    """The ground truth of the plan, read from the replanned paths (their true times)."""
    out: list[Anomaly] = []
    detail: dict[str, Any]
    for path in paths:
        vid = path.vehicle_id
        for run in path.runs:
            trip = run.trip
            if run.detour is not None:
                det = run.detour
                detail = {"offset_m": round(det.offset_m), "length_m": round(det.d1_m - det.d0_m)}
                start, end = event_ms(run.time_at(det.d0_m)), event_ms(run.time_at(det.d1_m))
                out.append(Anomaly(vid, "detour", trip.trip_id, trip.route_id, start, end, detail))
            if run.stall is not None and run.stall_start_s is not None:
                start = event_ms(run.stall_start_s)
                end = event_ms(run.stall_start_s + run.stall.duration_s)
                detail = {"duration_s": run.stall.duration_s, "dist_m": round(run.stall.dist_m)}
                out.append(Anomaly(vid, "stall", trip.trip_id, trip.route_id, start, end, detail))
        jump = plan.jumps.get(vid)
        if jump is not None:
            state = path.state_at(jump.sim_ms / 1000)
            assert state is not None
            at = event_ms(jump.sim_ms / 1000)
            detail = {"distance_m": round(math.hypot(jump.east_m, jump.north_m))}
            trip = state.run.trip
            out.append(Anomaly(vid, "jump", trip.trip_id, trip.route_id, at, at, detail))
    out.sort(key=lambda a: (a.start_ms, a.vehicle_id))
    return out
