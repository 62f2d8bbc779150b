"""The event generator: a built `Simulation` yields ticks of events, with no HTTP and no waiting.

Everything random is drawn from rngs seeded by (seed, what, who), never from shared state, so
the same `SimParams` and the same `now` give the same events, tick by tick, however often
`ticks()` is called; tests, the benchmark and notebooks rely on that. A tick covers one report
interval of sim time, (sim_ms - report_every, sim_ms]: each vehicle reports once in it, at its own
phase, so fixes of a fleet do not all share a timestamp.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from transitstream.errors import TransitStreamError
from transitstream.gtfs import Feed, format_gtfs_time, trips_on
from transitstream.simulate import badevents
from transitstream.simulate.clock import SimClock, make_clock
from transitstream.simulate.faults import Anomaly, FaultPlan, anomalies_of, plan_faults
from transitstream.simulate.fleet import PRE_DEPARTURE_MAX_S, assign_vehicles
from transitstream.simulate.gps import Fix, make_fix
from transitstream.simulate.params import SimParams
from transitstream.simulate.vehicle import VehiclePath, plan_block


class SimulationError(TransitStreamError):
    """The simulation cannot run as asked (no vehicle in service, a bad window)."""


@dataclass(frozen=True, slots=True)
class Arrival:
    vehicle_id: str
    trip_id: str
    route_id: str
    stop_id: str
    stop_sequence: int
    scheduled_ms: int
    true_ms: int
    departure_ms: int | None


@dataclass
class Tick:
    """One report interval: what to post (`items` and `raw_bodies`) and what was true."""

    index: int
    sim_ms: int
    event_ms: int
    fixes: list[Fix]
    items: list[Any]
    kinds: list[str | None]  # per item: None for a good event, else its bad kind
    raw_bodies: list[bytes]
    arrivals: list[Arrival]


FALLBACK_START_S = 8 * 3600
"""Where a bounded run whose window has no service goes instead: 08:00, in every feed's peak."""


class Simulation:
    """A planned fleet for one window. Build it with `Simulation.build`; read it with `ticks`."""

    def __init__(
        self,
        feed: Feed,
        params: SimParams,
        clock: SimClock,
        paths: list[VehiclePath],
        plan: FaultPlan,
        phases: dict[str, int],
        notes: list[str],
    ) -> None:
        self.feed, self.params, self.clock, self.paths, self.plan = feed, params, clock, paths, plan
        self._phases = phases  # ms after the window start of each vehicle's first report
        self.notes = notes
        self.report_ms = max(1, round(params.report_every_s * 1000))
        self.start_ms = math.floor(clock.start_s * 1000)
        self.end_ms = None if clock.end_s is None else math.floor(clock.end_s * 1000)
        self.anomalies: list[Anomaly] = anomalies_of(paths, plan, self._event_ms)

    @classmethod
    def build(
        cls,
        feed: Feed,
        params: SimParams,
        *,
        now: datetime | None = None,
        max_past_s: float = 2 * 86400.0,
    ) -> Simulation:
        """Place the window, pick the vehicles, plan their days and the faults. No I/O."""
        clock = make_clock(feed, params, now, max_past_s)
        notes = list(clock.notes)
        lo, hi = clock.start_s, clock.horizon_s
        trips = trips_on(feed, clock.template_date)
        assignments, more = assign_vehicles(
            feed,
            trips,
            lo,
            hi,
            params.vehicles,
            params.seed,
            params.replicate,
            params.vehicle_prefix,
        )
        notes += more
        thin = len(assignments) < max(1, params.vehicles // 2)
        if thin and params.start_s is None and params.span_s is not None:
            # The night of a daytime network: a learner on another continent would see a bus or
            # none, so a bounded run without --start replays the morning peak instead, and says so.
            morning = dataclasses.replace(params, start_s=FALLBACK_START_S)
            sim = cls.build(feed, morning, now=now, max_past_s=max_past_s)
            sim.notes.insert(
                0,
                f"only {len(assignments)} of {params.vehicles} vehicles run between "
                f"{format_gtfs_time(max(0, int(lo)))} and {format_gtfs_time(max(0, int(hi)))}: "
                f"replaying {format_gtfs_time(FALLBACK_START_S)} instead (--start chooses)",
            )
            return sim
        if not assignments:
            raise SimulationError(
                f"no trip of {clock.template_date} is in service between "
                f"{format_gtfs_time(max(0, int(lo)))} and {format_gtfs_time(max(0, int(hi)))}; "
                "pass --start HH:MM inside service hours (e.g. --start 08:00)"
            )
        until = math.inf if clock.end_s is None else clock.end_s + PRE_DEPARTURE_MAX_S
        paths = [plan_block(feed, a, params.seed, None, lo, until) for a in assignments]
        step = max(1, round(params.report_every_s * 1000))
        phases = {
            p.vehicle_id: random.Random(f"{params.seed}:phase:{p.vehicle_id}").randint(1, step)
            for p in paths
        }
        start_ms, hi_ms = math.floor(lo * 1000), math.floor(hi * 1000)

        def report_times(vehicle_id: str) -> list[int]:
            return list(range(start_ms + phases[vehicle_id], hi_ms + 1, step))

        counts = {"detour": params.detours, "stall": params.stalls, "jump": params.jumps}
        plan = plan_faults(
            paths, lo, hi, 2 * params.report_every_s, counts, params.seed, report_times
        )
        notes += plan.notes
        by_id = {a.vehicle_id: a for a in assignments}
        paths = [
            plan_block(feed, by_id[p.vehicle_id], params.seed, plan.motion[p.vehicle_id], lo, until)
            if p.vehicle_id in plan.motion
            else p
            for p in paths
        ]
        return cls(feed, params, clock, paths, plan, phases, notes)

    def _event_ms(self, sim_s: float) -> int:
        return self.clock.day_start_ms + round(sim_s * 1000)

    @property
    def tick_count(self) -> int | None:
        if self.end_ms is None:
            return None
        return max(0, math.ceil((self.end_ms - self.start_ms) / self.report_ms))

    def ticks(self) -> Iterator[Tick]:
        """Every tick of the window in order; fresh rngs each call, so replays are identical."""
        p, day0, step = self.params, self.clock.day_start_ms, self.report_ms
        rates = badevents.kind_rates(p)
        total_bad = sum(rates.values())
        cumulative = _cumulative(rates)
        vehicles = sorted(self.paths, key=lambda v: v.vehicle_id)
        nxt = {v.vehicle_id: self.start_ms + self._phases[v.vehicle_id] for v in vehicles}
        noise = {v.vehicle_id: random.Random(f"{p.seed}:gps:{v.vehicle_id}") for v in vehicles}
        sigma = {vid: p.gps_sigma_m * rng.uniform(0.7, 1.3) for vid, rng in noise.items()}
        pending = {v.vehicle_id: self._arrivals(v) for v in vehicles}
        jumps = self.plan.jumps
        last_end = max(leg.end_s for v in vehicles for leg in v.legs)
        k = 0
        while True:
            lo = self.start_ms + k * step
            hi = lo + step if self.end_ms is None else min(lo + step, self.end_ms)
            if (self.end_ms is not None and lo >= self.end_ms) or lo > last_end * 1000:
                return
            fixes: list[Fix] = []
            arrivals: list[Arrival] = []
            for v in vehicles:
                vid = v.vehicle_id
                while nxt[vid] <= hi:
                    fix = make_fix(v, nxt[vid], noise[vid], sigma[vid], day0, jumps.get(vid))
                    if fix is not None:
                        fixes.append(fix)
                    nxt[vid] += step
                queue = pending[vid]
                while queue and queue[-1].true_ms <= day0 + hi:
                    arrivals.append(queue.pop())
            fixes.sort(key=lambda f: (f.body["ts"], f.vehicle_id))
            arrivals.sort(key=lambda a: (a.true_ms, a.vehicle_id))
            rng = random.Random(f"{p.seed}:bad:{k}")
            items: list[Any] = [f.body for f in fixes]
            kinds: list[str | None] = [None] * len(items)
            for fix in fixes:
                r = rng.random()
                if r >= total_bad:
                    continue
                kind = next(kd for kd, acc in cumulative if r < acc)
                at = rng.randrange(len(items) + 1)
                items.insert(at, badevents.make_bad(kind, fix.body, rng))
                kinds.insert(at, kind)
            raw: list[bytes] = []
            if rng.random() < p.not_json_rate:
                raw.append(badevents.not_json_body(fixes[0].body if fixes else None, rng))
            yield Tick(k, hi, day0 + hi, fixes, items, kinds, raw, arrivals)
            k += 1

    def _arrivals(self, path: VehiclePath) -> list[Arrival]:
        """The path's arrivals after the window start, latest first (popped from the end)."""
        out = []
        for t, run, visit in path.arrivals():
            true_ms = self._event_ms(t)
            if true_ms <= self.clock.day_start_ms + self.start_ms:
                continue
            dep = None if visit.departure_s is None else self._event_ms(visit.departure_s)
            trip = run.trip
            out.append(
                Arrival(
                    path.vehicle_id,
                    trip.trip_id,
                    trip.route_id,
                    visit.stop_id,
                    visit.stop_sequence,
                    self._event_ms(visit.scheduled_s),
                    true_ms,
                    dep,
                )
            )
        out.reverse()
        return out


def _cumulative(rates: dict[str, float]) -> list[tuple[str, float]]:
    acc, out = 0.0, []
    for kind, rate in rates.items():
        acc += rate
        out.append((kind, acc))
    return out
