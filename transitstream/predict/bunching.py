"""Bunching: two buses of a route and direction closer than a fraction of their planned headway.

It is the one rule that needs several vehicles at once, so it is a function over the latest
states of a route's vehicles (and a small `BunchingState` of open pairs), run once per micro-batch
or tick rather than per event. Headways are measured in schedule seconds along the leader's
trip, which makes a gap comparable between a slow downtown stretch and a fast suburban one:

* observed = the leader's scheduled running time from the follower's spot to its own;
* planned = when the follower's timetable has it at its spot minus when the leader's had it there.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable

from transitstream.config import PredictSettings
from transitstream.predict.anomalies import BUNCHING, event
from transitstream.predict.catalog import Catalog, TripPlan
from transitstream.predict.state import AnomalyEvent, BunchingState, Evidence, VehicleState

MIN_RATIO = 0.01
"""Severity is threshold / ratio; a bus that has caught up (ratio 0) is simply critical."""


def headways(
    a: VehicleState, pa: TripPlan, b: VehicleState, pb: TripPlan, s: PredictSettings
) -> tuple[float, float] | None:
    """(observed, planned) seconds between leader `a` and follower `b`, or None when they
    cannot be compared (the follower is not on the leader's shape, or not planned behind it)."""
    if pa.polyline is pb.polyline:
        d_b = b.dist_m
    else:
        proj = pa.polyline.project((b.lat, b.lon))
        if proj.offset_m > s.off_route_m:
            return None
        d_b = proj.distance_m
    a_day, b_day = a.day_start_ms / 1000.0, b.day_start_ms / 1000.0
    a_at_b = a_day + pa.sched_at(d_b)
    planned = b_day + pb.sched_at(b.dist_m) - a_at_b
    if planned <= 0:
        return None
    observed = a_day + pa.sched_at(a.dist_m) - a_at_b
    return max(observed, 0.0), planned


def detect_bunching(
    vehicles: Iterable[VehicleState],
    catalog: Catalog,
    state: BunchingState,
    now_ms: int,
    s: PredictSettings,
) -> list[AnomalyEvent]:
    """Open/close events for pairs of consecutive in-service buses (ordered by their trips'
    scheduled start) whose headway ratio is below `bunching_ratio`; reported on the follower."""
    groups: dict[tuple[str, int], list[tuple[float, VehicleState, TripPlan]]] = defaultdict(list)
    for v in vehicles:
        plan = catalog.plan(v.trip_id) if v.trip_id else None
        fresh = v.ts_ms and now_ms - v.ts_ms <= s.bunching_max_age_s * 1000
        if plan is None or not fresh or not v.departed or v.next_stop >= len(plan.stop_ids):
            continue
        start = v.day_start_ms / 1000.0 + plan.dep_s[0]
        groups[(plan.route_id, plan.direction_id)].append((start, v, plan))
    out: list[AnomalyEvent] = []
    seen: set[str] = set()
    for members in groups.values():
        members.sort(key=lambda m: (m[0], m[1].vehicle_id))
        for (_, a, pa), (_, b, pb) in itertools.pairwise(members):
            gaps = headways(a, pa, b, pb, s)
            if gaps is None:
                continue
            key = f"{a.vehicle_id}>{b.vehicle_id}"
            seen.add(key)
            ratio = gaps[0] / gaps[1]
            ev: Evidence = {
                "leader_vehicle_id": a.vehicle_id,
                "headway_s": round(gaps[0], 1),
                "scheduled_headway_s": round(gaps[1], 1),
                "ratio": round(ratio, 3),
            }
            who = (b.vehicle_id, b.trip_id, b.route_id)
            cur = state.open.get(key)
            sev = s.bunching_ratio / max(ratio, MIN_RATIO)
            if cur is None and ratio < s.bunching_ratio:
                state.open[key] = {"since_ms": now_ms, "peak": sev, "who": list(who)}
                out.append(event(who, BUNCHING, "open", sev, now_ms, ev, s))
            elif cur is not None and ratio > s.bunching_ratio / s.close_ratio:
                out.append(_close(state, key, now_ms, ev, s))
            elif cur is not None:
                cur["peak"] = max(cur["peak"], sev)
    for key in sorted(set(state.open) - seen):
        out.append(_close(state, key, now_ms, {"reason": "no longer compared"}, s))
    return out


def _close(
    state: BunchingState, key: str, now_ms: int, ev: Evidence, s: PredictSettings
) -> AnomalyEvent:
    cur = state.open.pop(key)
    vid, trip, route = cur["who"]
    closing: Evidence = {**ev, "duration_s": (now_ms - cur["since_ms"]) / 1000.0}
    return event((vid, trip, route), BUNCHING, "close", cur["peak"], now_ms, closing, s)
