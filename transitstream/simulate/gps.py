"""One reported fix: the vehicle's true state, plus GPS noise, as the JSON body a device sends.

Noise is gaussian per axis but clipped (at `NOISE_CLIP_SIGMAS`), because real receivers filter
wild fixes and because a bound is what lets tests tell noise from an injected fault. A GPS jump
is applied here, to one reported fix only: the vehicle itself never moved.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from transitstream.ingest.validate import derive_event_id
from transitstream.simulate.faults import Jump
from transitstream.simulate.vehicle import VehiclePath

_M_PER_DEG = math.pi * 6_371_008.8 / 180.0
NOISE_CLIP_SIGMAS = 3.5
"""GPS noise is gaussian but clipped at this many sigmas, so tests can bound it."""
ACCURACY_PER_SIGMA = 2.45
"""The `accuracy` field is the 95% radius of 2-D gaussian noise: 2.45 sigma."""


@dataclass(frozen=True, slots=True)
class Fix:
    """One good event and the truth behind it (never sent: the body is what is sent)."""

    body: dict[str, Any]
    vehicle_id: str
    trip_id: str
    sim_ms: int
    true_lat: float
    true_lon: float
    dist_m: float
    moving_leg: bool
    fault: str | None
    offset_m: float


def make_fix(
    path: VehiclePath,
    t_ms: int,
    rng: random.Random,
    sigma: float,
    day_start_ms: int,
    jump: Jump | None = None,
) -> Fix | None:
    """The fix `path` reports at sim time `t_ms`, or None when it is out of service.

    The event id is derived as the ingestor would (vehicle, time), so a resent fix dedupes.
    """
    state = path.state_at(t_ms / 1000)
    if state is None:
        return None
    dx, dy = rng.gauss(0.0, sigma), rng.gauss(0.0, sigma)
    r = math.hypot(dx, dy)
    if r > NOISE_CLIP_SIGMAS * sigma:
        dx, dy = dx * NOISE_CLIP_SIGMAS * sigma / r, dy * NOISE_CLIP_SIGMAS * sigma / r
    fault = state.fault
    if jump is not None and jump.sim_ms == t_ms:
        dx, dy, fault = dx + jump.east_m, dy + jump.north_m, "jump"
    lat = state.lat + dy / _M_PER_DEG
    lon = state.lon + dx / (_M_PER_DEG * math.cos(math.radians(state.lat)))
    ts = day_start_ms + t_ms
    bearing = round(state.bearing, 1)
    trip = state.run.trip
    body = {
        "vehicle_id": path.vehicle_id,
        "trip_id": trip.trip_id,
        "route_id": trip.route_id,
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "ts": ts,
        "speed": round(state.speed, 2),
        "bearing": 0.0 if bearing >= 360.0 else bearing,
        "accuracy": round(ACCURACY_PER_SIGMA * sigma, 1),
        "event_id": derive_event_id(path.vehicle_id, ts),
    }
    return Fix(
        body,
        path.vehicle_id,
        trip.trip_id,
        t_ms,
        state.lat,
        state.lon,
        state.dist_m,
        state.moving_leg,
        fault,
        state.offset_m,
    )
