"""The predictor's state and outputs, as plain dataclasses a stream processor can store.

State comes in two kinds, because they are shared differently:

* `VehicleState`, one per vehicle: where it was last matched, when, how late, its own pace on
  this trip, and which anomalies it has open. Only that vehicle's events touch it.
* `SegmentState`, one per route group (or one for the fleet): learned stop-to-stop travel
  times, each route's line and the fleet's. Every vehicle reads it and contributes
  `SegmentObservation`s to it.

Every field is a str, int, float, bool or a dict of those, so states pickle small and map onto a
Spark state schema or JSON without custom code. Outputs (`Prediction`, `AnomalyEvent`) are
records; times are epoch milliseconds like the events' `ts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

Evidence = dict[str, float | int | str]


def plain(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, for JSON: not `asdict`, which deep-copies every value and
    made writing a route's state (every micro-batch) cost more than reading it. Nested values are
    shared, not copied: dump the result, do not keep it."""
    return {f: getattr(record, f) for f in _names(type(record))}


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


Severity = Literal["info", "warning", "critical"]
Status = Literal["open", "close", "instant"]


@dataclass(slots=True)
class VehicleState:
    """What one vehicle's next event needs to know about its past. `ts_ms == 0`: never seen."""

    vehicle_id: str
    trip_id: str = ""
    route_id: str = ""
    day_start_ms: int = 0  # service-day start the trip's GTFS times count from
    ts_ms: int = 0  # last accepted fix
    lat: float = 0.0
    lon: float = 0.0
    dist_m: float = 0.0  # along the trip's shape; only grows, unless a lost track is found
    offset_m: float = 0.0
    speed_ms: float = 0.0  # reported by the device (baseline input)
    progress_ms: float = 0.0  # smoothed matched speed along the shape (map matching input)
    delay_s: float = 0.0  # schedule deviation: > 0 late, < 0 early
    next_stop: int = 0  # index of the first stop not yet reached
    departed: bool = False  # left the first stop of the trip
    cross_ms: int = 0  # when stop next_stop - 1 was passed (0 = not seen: no segment timing)
    trip_seen_ms: int = 0  # first fix on this trip (its layover began by then)
    pace_obs_s: float = 0.0  # decayed sum of observed segment seconds on this trip
    pace_exp_s: float = 0.0  # decayed sum of what the segment model expected for them
    dirty: bool = False  # an anomaly was open in the current segment: do not learn from it
    off_count: int = 0  # consecutive fixes off-route (> 0) or back on it (< 0)
    late_count: int = 0  # consecutive fixes late (> 0) or early (< 0)
    anchor_lat: float = 0.0  # where the vehicle last started standing still
    anchor_lon: float = 0.0
    anchor_ms: int = 0
    jump_rejects: int = 0  # consecutive fixes rejected as impossible jumps
    open: dict[str, dict[str, Any]] = field(default_factory=dict)  # open anomalies by kind

    def to_dict(self) -> dict[str, Any]:
        return plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VehicleState:
        return cls(**data)


@dataclass(slots=True)
class SegmentStat:
    """Exponentially weighted means of observed and scheduled seconds of one segment's
    traversals: their ratio transfers to a trip whose timetable gives the segment another time
    (peak vs off-peak), which a mean of seconds alone would not."""

    obs_s: float
    sched_s: float
    n: int


@dataclass(slots=True)
class RouteStat:
    """Exponentially weighted sums for a least-squares line observed = a * scheduled + b over
    every segment traversal of a route: `a` is how fast the route drives against its timetable,
    `b` the time a traversal adds whatever its length (the dwell at its first stop)."""

    w: float = 0.0
    x: float = 0.0
    y: float = 0.0
    xx: float = 0.0
    xy: float = 0.0
    n: int = 0


@dataclass(slots=True)
class SegmentState:
    """Learned times: per segment (`route|from_stop|to_stop`) and per route (`route`)."""

    stats: dict[str, SegmentStat] = field(default_factory=dict)
    routes: dict[str, RouteStat] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stats": {k: plain(v) for k, v in self.stats.items()},
            "routes": {k: plain(v) for k, v in self.routes.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentState:
        stats = {k: SegmentStat(**v) for k, v in data["stats"].items()}
        return cls(stats, {k: RouteStat(**v) for k, v in data.get("routes", {}).items()})


@dataclass(slots=True)
class BunchingState:
    """Open bunching pairs by `leader>follower` vehicle ids: the cross-vehicle state of a route."""

    open: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SegmentObservation:
    """One traversal of a segment: the unit of learning, shippable to another aggregation."""

    key: str
    route_id: str
    observed_s: float
    scheduled_s: float
    event_time: int


@dataclass(slots=True)
class Prediction:
    """An arrival prediction; times are epoch ms, `horizon_s` is predicted - prediction time.

    Not frozen, unlike the other records: an event makes one per stop ahead (30 on average),
    and a frozen dataclass is four times slower to build. Treat it as read-only all the same.
    """

    stop_id: str
    stop_sequence: int
    vehicle_id: str
    trip_id: str
    route_id: str
    predicted_time: int
    prediction_time: int
    horizon_s: float
    scheduled_time: int
    method: str = "model"


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    """An anomaly opening, closing, or (a jump) happening at once, at event time `event_time`."""

    kind: str
    status: Status
    severity: Severity
    vehicle_id: str
    trip_id: str
    route_id: str
    event_time: int
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Match:
    """Where a fix puts the vehicle: what the enriched position record carries."""

    dist_m: float
    offset_m: float
    next_stop: int
    next_stop_id: str | None
    delay_s: float
    departed: bool


@dataclass(slots=True)
class StepResult:
    """Everything one event produced; `skipped` says why an event changed nothing."""

    match: Match | None = None
    predictions: list[Prediction] = field(default_factory=list)
    baselines: list[Prediction] = field(default_factory=list)
    anomalies: list[AnomalyEvent] = field(default_factory=list)
    observations: list[SegmentObservation] = field(default_factory=list)
    skipped: str | None = None
