"""One vehicle's day: its block's trips planned in order, with layovers between them.

Lateness carries over: a trip that arrives late leaves late on the next one unless the layover
absorbs it, which is how delays propagate along a block in real service. Between two trips the
vehicle waits at the terminal and keeps reporting (with the next trip's id, as AVL systems do)
when the next trip starts where the last one ended; after a long break or a deadhead it goes
quiet and reappears at its next first stop a few minutes before departure.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from transitstream.gtfs import Feed, haversine_m
from transitstream.simulate.fleet import PRE_DEPARTURE_MAX_S, Assignment
from transitstream.simulate.motion import Detour, Stall, StopVisit, TripRun, plan_trip

LAYOVER_S = (30.0, 120.0)
"""Recovery time at a terminal before the next trip, whatever the schedule allows."""
PRE_DEPARTURE_S = (60.0, PRE_DEPARTURE_MAX_S)
TERMINAL_NEAR_M = 150.0
"""Consecutive trips whose terminals are this close share them: the vehicle stays and reports."""
MAX_LAYOVER_S = 2700.0
DEADHEAD_SPEED_MS = 8.0
DEADHEAD_DETOUR = 1.4
"""Road distance over straight-line distance for an empty run between terminals."""
_M_PER_DEG = math.pi * 6_371_008.8 / 180.0

Faults = Mapping[str, tuple[Detour | None, Stall | None]]


class State(NamedTuple):
    """What is true about a vehicle at one instant (before GPS noise)."""

    lat: float
    lon: float
    speed: float
    bearing: float
    dist_m: float
    run: TripRun
    moving_leg: bool
    offset_m: float
    fault: str | None


@dataclass(frozen=True)
class Leg:
    start_s: float
    end_s: float
    run: TripRun
    moving: bool  # False: waiting at the run's first stop


class VehiclePath:
    """A vehicle's legs in time order; `state_at` answers where it is, or None off service."""

    def __init__(self, assignment: Assignment, legs: list[Leg]) -> None:
        self.assignment = assignment
        self.vehicle_id = assignment.vehicle_id
        self.legs = legs
        self._starts = [leg.start_s for leg in legs]

    @property
    def runs(self) -> list[TripRun]:
        return [leg.run for leg in self.legs if leg.moving]

    def state_at(self, t: float) -> State | None:
        i = bisect_right(self._starts, t) - 1
        if i < 0 or t > self.legs[i].end_s:
            return None
        leg = self.legs[i]
        run = leg.run
        if leg.moving:
            dist, speed = run.dist_speed_at(t)
        else:
            dist, speed = run.visits[0].dist_m, 0.0
        lat, lon, bearing = run.line.point_at(dist)
        offset, fault = 0.0, None
        if run.detour is not None and leg.moving:
            w = run.detour.weight(dist)
            if w > 0:
                lat += run.detour.north_m * w / _M_PER_DEG
                lon += run.detour.east_m * w / (_M_PER_DEG * math.cos(math.radians(lat)))
                offset, fault = run.detour.offset_m * w, "detour"
        if leg.moving and run.stalled_at(t):
            fault = "stall"
        return State(lat, lon, speed, bearing, dist, run, leg.moving, offset, fault)

    def arrivals(self) -> list[tuple[float, TripRun, StopVisit]]:
        """Every stop reached, by true arrival time (a detour's skipped stops are not)."""
        out = [
            (v.arrival_s, run, v)
            for run in self.runs
            for v in run.visits
            if v.arrival_s is not None
        ]
        out.sort(key=lambda a: a[0])
        return out


def plan_block(
    feed: Feed,
    assignment: Assignment,
    seed: int,
    faults: Faults | None = None,
    from_s: float = -math.inf,
    until_s: float = math.inf,
) -> VehiclePath:
    """Plan the block's trips in order; `faults` maps trip_id to what to inject into it.

    Only trips that can matter for [from_s, until_s] are planned: from the one before the first
    still running at `from_s` (it carries its lateness into the window) to the last departing
    by `until_s`. That keeps a 1,000-vehicle fleet quick to plan. Each trip draws from its own
    rng (seed, vehicle, trip, copy), so a replan with a fault differs only where it must.
    """
    faults = faults or {}
    legs: list[Leg] = []
    prev: TripRun | None = None
    shift = assignment.shift_s
    trips = assignment.trips
    begin = next(
        (
            i
            for i, t in enumerate(trips)
            if feed.stop_times[t.trip_id][-1].arrival_s + shift >= from_s
        ),
        len(trips),
    )
    for trip in trips[max(0, begin - 1) :]:
        if feed.stop_times[trip.trip_id][0].departure_s + shift > until_s:
            break
        rng = random.Random(f"{seed}:{assignment.vehicle_id}:{trip.trip_id}:{assignment.copy}")
        layover = rng.uniform(*LAYOVER_S)
        pre = rng.uniform(*PRE_DEPARTURE_S)
        sts = feed.stop_times[trip.trip_id]
        sched_dep = sts[0].departure_s + assignment.shift_s
        first = feed.stops[sts[0].stop_id]
        if prev is None:
            arrive = ready = sched_dep - pre
        else:
            last = feed.stops[feed.stop_times[prev.trip.trip_id][-1].stop_id]
            gap_m = haversine_m(last.lat, last.lon, first.lat, first.lon)
            if gap_m <= TERMINAL_NEAR_M and sched_dep - prev.end_s <= MAX_LAYOVER_S:
                arrive, ready = prev.end_s, prev.end_s + layover
            else:
                there = prev.end_s + gap_m * DEADHEAD_DETOUR / DEADHEAD_SPEED_MS
                arrive = max(sched_dep - pre, there)
                ready = max(arrive, there + layover)
        detour, stall = faults.get(trip.trip_id, (None, None))
        run = plan_trip(
            feed,
            trip,
            rng,
            arrive_s=arrive,
            ready_s=ready,
            shift_s=assignment.shift_s,
            detour=detour,
            stall=stall,
        )
        if run.start_s > arrive:
            legs.append(Leg(arrive, run.start_s, run, moving=False))
        legs.append(Leg(run.start_s, run.end_s, run, moving=True))
        prev = run
    return VehiclePath(assignment, legs)
