"""Anomaly rules: off-route, stalled, impossible jump, late/early, and bunching across vehicles.

A persisting anomaly is an interval, so it is reported twice: when it opens and when it closes
(with its duration and peak), never on every fix, which would flood the topic and the pager.
Opening needs a few consecutive fixes and closing a margin below the threshold (hysteresis), so
a value hovering at the threshold does not flap. A jump is a single fix: reported once, as
`instant`. Severity is how far past its threshold the value is (see `severity`).
"""

from __future__ import annotations

from transitstream.config import PredictSettings
from transitstream.gtfs import haversine_m
from transitstream.predict.catalog import TripPlan
from transitstream.predict.state import AnomalyEvent, Evidence, Severity, Status, VehicleState

OFF_ROUTE, STALLED, JUMP, LATE, EARLY, BUNCHING = (
    "off_route",
    "stalled",
    "jump",
    "late",
    "early",
    "bunching",
)


def severity(ratio: float, s: PredictSettings) -> Severity:
    """`ratio` is value / threshold (>= 1 once the threshold is passed)."""
    if ratio >= s.severity_critical:
        return "critical"
    return "warning" if ratio >= s.severity_warning else "info"


def event(
    who: tuple[str, str, str],
    kind: str,
    status: Status,
    ratio: float,
    ts: int,
    ev: Evidence,
    s: PredictSettings,
) -> AnomalyEvent:
    """`who` is (vehicle_id, trip_id, route_id)."""
    return AnomalyEvent(kind, status, severity(ratio, s), *who, ts, ev)


def ids(v: VehicleState) -> tuple[str, str, str]:
    return v.vehicle_id, v.trip_id, v.route_id


def transition(
    v: VehicleState,
    kind: str,
    active: bool,
    value: float,
    threshold: float,
    ts: int,
    ev: Evidence,
    s: PredictSettings,
) -> AnomalyEvent | None:
    """Open `kind` when it becomes active, track its peak while open, close it when it stops."""
    cur = v.open.get(kind)
    if active:
        if cur is None:
            v.open[kind] = {"since_ms": ts, "peak": value, "threshold": threshold}
            return event(ids(v), kind, "open", value / threshold, ts, ev, s)
        cur["peak"] = max(cur["peak"], value)
        return None
    if cur is None:
        return None
    del v.open[kind]
    closing: Evidence = {**ev, "duration_s": (ts - cur["since_ms"]) / 1000.0, "peak": cur["peak"]}
    return event(ids(v), kind, "close", cur["peak"] / cur["threshold"], ts, closing, s)


def close_all(v: VehicleState, ts: int, reason: str, s: PredictSettings) -> list[AnomalyEvent]:
    """Close what is open, e.g. when the vehicle starts another trip (anomalies are per trip)."""
    out = []
    for kind in sorted(v.open):
        e = transition(v, kind, False, 0.0, 1.0, ts, {"reason": reason}, s)
        if e is not None:
            out.append(e)
    v.off_count = v.late_count = 0
    return out


def jump(
    v: VehicleState, lat: float, lon: float, ts: int, s: PredictSettings
) -> AnomalyEvent | None:
    """An impossible hop from the last accepted fix, or None. The caller then ignores the fix,
    so the next one is matched from the last good place, unless the vehicle keeps reporting
    from the new place (`jump_max_rejects` times): then the new place is believed."""
    if v.ts_ms == 0 or ts <= v.ts_ms:
        return None
    hop = haversine_m(v.lat, v.lon, lat, lon)
    speed = hop / ((ts - v.ts_ms) / 1000.0)
    if hop < s.jump_min_m or speed <= s.jump_speed_ms or v.jump_rejects >= s.jump_max_rejects:
        return None
    ev: Evidence = {"distance_m": round(hop, 1), "dt_s": (ts - v.ts_ms) / 1000.0}
    ev["implied_speed_ms"] = round(speed, 1)
    return event(ids(v), JUMP, "instant", speed / s.jump_speed_ms, ts, ev, s)


def off_route(v: VehicleState, ts: int, s: PredictSettings) -> AnomalyEvent | None:
    """Offset above `off_route_m` for `off_route_fixes` fixes opens; as many below
    `close_ratio` of it close. A single wild fix is noise (or a jump), not a detour."""
    n, limit = s.off_route_fixes, s.off_route_m
    if v.offset_m > limit:
        v.off_count = max(v.off_count, 0) + 1
    elif v.offset_m < limit * s.close_ratio:
        v.off_count = min(v.off_count, 0) - 1
    active = v.off_count > -n if OFF_ROUTE in v.open else v.off_count >= n
    if not active and OFF_ROUTE not in v.open:
        return None  # the usual fix: nothing opens or closes, so no evidence to build
    ev: Evidence = {"offset_m": round(v.offset_m, 1), "dist_m": round(v.dist_m, 1)}
    return transition(v, OFF_ROUTE, active, v.offset_m, limit, ts, ev, s)


def near_stop(plan: TripPlan, d: float, k: int, radius_m: float) -> bool:
    """Within `radius_m` of stop k - 1 or stop k (the stops either side of a vehicle whose next
    stop is k)."""
    dist = plan.dist_m
    return any(0 <= i < len(dist) and abs(d - dist[i]) <= radius_m for i in (k - 1, k))


def stalled(
    v: VehicleState,
    plan: TripPlan,
    lat: float,
    lon: float,
    speed: float,
    ts: int,
    s: PredictSettings,
) -> AnomalyEvent | None:
    """Standing (within `stall_radius_m` of where it stopped, reporting no speed) for `stall_s`,
    in service, away from stops. Dwell at a stop, a timepoint hold, and the layover before the
    first departure or after the last stop are what buses do, so none of them counts."""
    moved = haversine_m(v.anchor_lat, v.anchor_lon, lat, lon) if v.anchor_ms else 0.0
    if speed > s.stall_speed_ms:
        v.anchor_ms = 0  # moving: the standing clock starts at the first fix that is not
    elif v.anchor_ms == 0 or moved > s.stall_radius_m:
        v.anchor_lat, v.anchor_lon, v.anchor_ms = lat, lon, ts
    standing = (ts - v.anchor_ms) / 1000.0 if v.anchor_ms else 0.0
    in_service = v.departed and v.next_stop < len(plan.stop_ids)
    away = not near_stop(plan, v.dist_m, v.next_stop, s.stop_radius_m)
    active = in_service and away and standing >= s.stall_s
    if not active and STALLED not in v.open:
        return None  # nothing opens or closes
    ev: Evidence = {"standing_s": standing, "dist_m": round(v.dist_m, 1)}
    return transition(v, STALLED, active, standing, s.stall_s, ts, ev, s)


def schedule(v: VehicleState, ts: int, s: PredictSettings) -> list[AnomalyEvent]:
    """Late beyond `late_s` or early beyond `early_s`, for `schedule_fixes` fixes in a row."""
    d, n = v.delay_s, s.schedule_fixes
    if d > s.late_s:
        v.late_count = max(v.late_count, 0) + 1
    elif d < -s.early_s and v.departed:
        v.late_count = min(v.late_count, 0) - 1
    else:
        v.late_count = 0
    late_on = d > s.late_s * s.close_ratio if LATE in v.open else v.late_count >= n
    early_on = (
        d < -s.early_s * s.close_ratio and v.departed if EARLY in v.open else v.late_count <= -n
    )
    if not (late_on or early_on or LATE in v.open or EARLY in v.open):
        return []  # nothing opens or closes
    ev: Evidence = {"delay_s": round(d, 1), "dist_m": round(v.dist_m, 1)}
    out = [
        transition(v, LATE, late_on, max(d, 0.0), s.late_s, ts, ev, s),
        transition(v, EARLY, early_on, max(-d, 0.0), s.early_s, ts, ev, s),
    ]
    return [e for e in out if e is not None]
