"""Where a vehicle is along its trip at any sim time, and when it truly reaches each stop.

A trip is planned once, up front, as knots (time, distance along the shape): a straight run
between knots is constant speed, two knots at one distance are a dwell or a stall. Planning first
and sampling later is what lets the generator answer "where at t?" in O(log n) for any t, and
gives the ground truth (true arrivals) exactly, not as seen through GPS noise.

Traffic: each trip draws a bias and a mean-reverting random walk of log travel-time factors, one
step per segment between stops, so some trips run late, some early, and lateness persists for a
while along a trip as it does in traffic. Running times are scaled so that an average trip,
dwells included, takes a little less than its schedule; buses then hold at timepoints when
early, so they drift late but not early, as buses do.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from transitstream.gtfs import Feed, Polyline, Trip, trip_shape

V_MAX_MS = 20.0
"""No bus covers a segment faster than this (72 km/h), whatever the timetable says."""
MIN_SEGMENT_S = 1.0
STOP_PROBABILITY = 0.3
"""Most CARTA stops are request stops 80-200 m apart: a bus stops at about a third of them."""
DWELL_S = (4.0, 30.0)
TRAFFIC_BIAS_SIGMA = 0.06
TRAFFIC_STEP_SIGMA = 0.08
TRAFFIC_RHO = 0.85
SCHEDULE_SLACK = 0.97
"""An average trip, dwells included, is planned to take this fraction of its scheduled time."""


@dataclass(frozen=True, slots=True)
class StopVisit:
    """One stop of a planned trip; `arrival_s` is None when a detour skipped the stop."""

    stop_index: int
    stop_id: str
    stop_sequence: int
    dist_m: float
    scheduled_s: float
    arrival_s: float | None
    departure_s: float | None


@dataclass(frozen=True)
class Detour:
    """The vehicle leaves its shape between `d0_m` and `d1_m`, displaced by (east_m, north_m).

    The displacement ramps up over a distance equal to its size (a 45-degree turn off the
    route), holds, and ramps down to rejoin: a parallel street, as real detours use.
    """

    d0_m: float
    d1_m: float
    east_m: float
    north_m: float

    @property
    def offset_m(self) -> float:
        return math.hypot(self.east_m, self.north_m)

    def weight(self, d: float) -> float:
        """0 on the shape, 1 on the plateau of the detour."""
        if not self.d0_m < d < self.d1_m:
            return 0.0
        return min(1.0, (d - self.d0_m) / self.offset_m, (self.d1_m - d) / self.offset_m)


@dataclass(frozen=True)
class Stall:
    """The vehicle stops at `dist_m` (between two stops) for `duration_s`."""

    dist_m: float
    duration_s: float


@dataclass
class TripRun:
    """A planned trip: knots of (time, distance), stop visits, and the faults planned into it."""

    trip: Trip
    line: Polyline
    times: list[float]
    dists: list[float]
    visits: list[StopVisit]
    detour: Detour | None = None
    stall: Stall | None = None
    stall_start_s: float | None = None

    @property
    def start_s(self) -> float:
        return self.times[0]

    @property
    def end_s(self) -> float:
        return self.times[-1]

    def dist_speed_at(self, t: float) -> tuple[float, float]:
        """Distance along the shape and speed (m/s) at sim time t; ends are clamped, speed 0."""
        times, dists = self.times, self.dists
        if t <= times[0]:
            return dists[0], 0.0
        j = bisect_right(times, t) - 1
        if j >= len(times) - 1:
            return dists[-1], 0.0
        dt = times[j + 1] - times[j]
        dd = dists[j + 1] - dists[j]
        return dists[j] + dd * (t - times[j]) / dt, dd / dt

    def time_at(self, d: float) -> float:
        """When the vehicle first reaches distance d."""
        j = bisect_left(self.dists, d)
        if j == 0:
            return self.times[0]
        if j >= len(self.dists):
            return self.times[-1]
        d0, d1 = self.dists[j - 1], self.dists[j]
        t0, t1 = self.times[j - 1], self.times[j]
        return t0 + (t1 - t0) * (d - d0) / (d1 - d0)

    def stalled_at(self, t: float) -> bool:
        if self.stall is None or self.stall_start_s is None:
            return False
        return self.stall_start_s <= t < self.stall_start_s + self.stall.duration_s


def plan_trip(
    feed: Feed,
    trip: Trip,
    rng: random.Random,
    *,
    arrive_s: float,
    ready_s: float,
    shift_s: float = 0.0,
    detour: Detour | None = None,
    stall: Stall | None = None,
) -> TripRun:
    """Plan one trip. The vehicle reached the first stop at `arrive_s` and may leave from
    `ready_s` on (after its layover), never before the scheduled departure.

    The rng is drawn the same number of times whatever the faults, so a trip replanned with a
    fault matches its fault-free plan up to the fault: the fault planner relies on it.
    """
    sts = feed.stop_times[trip.trip_id]
    shape = trip_shape(feed, trip.trip_id)
    d = shape.stop_distances_m
    arr = [st.arrival_s + shift_s for st in sts]
    dep = [st.departure_s + shift_s for st in sts]
    total = max(arr[-1] - dep[0], 1.0)
    holds = sum(dep[i] - arr[i] for i in range(1, len(sts) - 1))
    expected_dwell = (len(sts) - 2) * STOP_PROBABILITY * sum(DWELL_S) / 2
    scale = max(0.3, (SCHEDULE_SLACK * total - max(expected_dwell, holds)) / max(total - holds, 1))
    bias = rng.gauss(0.0, TRAFFIC_BIAS_SIGMA)
    walk = 0.0
    t = max(dep[0], ready_s)
    visits = [StopVisit(0, sts[0].stop_id, sts[0].stop_sequence, d[0], arr[0], arrive_s, t)]
    times, dists = [t], [d[0]]
    stall_start: float | None = None
    for i in range(1, len(sts)):
        walk = TRAFFIC_RHO * walk + rng.gauss(0.0, TRAFFIC_STEP_SIGMA)
        stops_here = rng.random() < STOP_PROBABILITY
        dwell = rng.uniform(*DWELL_S)
        seg = d[i] - d[i - 1]
        drive = max((arr[i] - dep[i - 1]) * scale * math.exp(bias + walk), seg / V_MAX_MS)
        drive = max(drive, MIN_SEGMENT_S)
        if stall is not None and d[i - 1] < stall.dist_m < d[i]:
            stall_start = t + drive * (stall.dist_m - d[i - 1]) / seg
            times += [stall_start, stall_start + stall.duration_s]
            dists += [stall.dist_m, stall.dist_m]
            t += stall.duration_s
        t += drive
        times.append(t)
        dists.append(d[i])
        skipped = detour is not None and detour.d0_m < d[i] < detour.d1_m
        if i == len(sts) - 1 or skipped or not stops_here:
            dwell = 0.0
        if sts[i].timepoint and not skipped and i < len(sts) - 1 and t + dwell < dep[i]:
            dwell = dep[i] - t  # early at a timepoint: wait for the schedule
        arrival = None if skipped else t
        if dwell > 0:
            t += dwell
            times.append(t)
            dists.append(d[i])
        departure = None if skipped else t
        visits.append(
            StopVisit(i, sts[i].stop_id, sts[i].stop_sequence, d[i], arr[i], arrival, departure)
        )
    return TripRun(trip, shape.polyline, times, dists, visits, detour, stall, stall_start)
