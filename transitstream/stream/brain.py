"""One route's worth of the stream job's state and logic, without Spark.

The Spark job groups positions by route and hands each group's events (in event-time order)
and its stored state to `RouteBrain`; what comes back are output rows for the three topics and
the new state. Keeping it Spark-free means the same code is unit-tested, replayed in notebooks,
and run by `applyInPandasWithState`, whose state store versions it per micro-batch: a replayed
batch starts from the same state and so produces the same records, which the exactly-once sink
then recognises.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transitstream.config import PredictSettings
from transitstream.predict import (
    AnomalyEvent,
    BunchingState,
    Catalog,
    Predictor,
    SegmentState,
    TripPlan,
    VehicleState,
)
from transitstream.predict.eta import first_predicted
from transitstream.stream.publish import Sent, to_publish

ENRICHED, ETA, ANOMALY = "enriched", "eta", "anomaly"
KINDS = (ENRICHED, ETA, ANOMALY)


@dataclass(frozen=True)
class OutRow:
    """One output record: which topic kind, its key, and its Avro-ready value."""

    kind: str
    key: str
    value: dict[str, Any]


def anomaly_id(vehicle_id: str, kind: str, opened_ms: int) -> str:
    """Same anomaly, same id on its open and close records (and on a replay)."""
    return hashlib.sha1(f"{vehicle_id}|{kind}|{opened_ms}".encode()).hexdigest()[:16]


class RouteBrain:
    """A route's `Predictor` (vehicles, learned segments, bunching), plus what the output records
    need (when each open anomaly opened, which ETAs were published: `publish`), as one JSON
    value in Spark's state store."""

    def __init__(self, catalog: Catalog, settings: PredictSettings) -> None:
        self.predictor = Predictor(catalog, settings, records=False)  # ETAs: see `publish`
        self.opened: dict[str, int] = {}  # "vehicle|kind" -> event time it opened
        self.sent: dict[str, Sent] = {}  # vehicle -> the ETAs last published for its trip

    # -- state ---------------------------------------------------------------------------------
    def to_json(self) -> str:
        p = self.predictor
        return json.dumps(
            {
                "vehicles": {k: v.to_dict() for k, v in p.vehicles.items()},
                "segments": p.segments.to_dict(),
                "bunching": p.bunching.open,
                "opened": self.opened,
                "sent": {k: m.to_list() for k, m in self.sent.items()},
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None, catalog: Catalog, settings: PredictSettings) -> RouteBrain:
        brain = cls(catalog, settings)
        if text:
            data = json.loads(text)
            p = brain.predictor
            p.vehicles = {k: VehicleState.from_dict(v) for k, v in data["vehicles"].items()}
            p.segments = SegmentState.from_dict(data["segments"])
            p.bunching = BunchingState(data["bunching"])
            brain.opened = data["opened"]
            brain.sent = {k: Sent.from_list(m) for k, m in data.get("sent", {}).items()}
        return brain

    # -- processing ----------------------------------------------------------------------------
    def process(self, events: Iterable[Mapping[str, Any]]) -> list[OutRow]:
        """Events of this route in event-time order -> enriched, ETA and anomaly rows."""
        out: list[OutRow] = []
        last_ts = 0
        for event in events:
            res = self.predictor.process(event)
            if res.match is not None:
                v = self.predictor.vehicles[str(event["vehicle_id"])]
                out.append(self._enriched(event, v))
                out += self._etas(v, res.arrival_s)
            out += [self._anomaly(a, event) for a in res.anomalies]
            last_ts = max(last_ts, int(event["ts"]))
        if last_ts:
            out += [self._anomaly(a, None) for a in self.predictor.check_bunching(last_ts)]
        return out

    def _enriched(self, event: Mapping[str, Any], v: VehicleState) -> OutRow:
        plan = self.predictor.catalog.plan(v.trip_id)
        route = self.predictor.catalog.feed.routes.get(v.route_id)
        route_name = event.get("route_name") or (route.name if route else None)
        nxt = plan is not None and v.next_stop < len(plan.stop_ids)
        value = {
            "event_id": str(event["event_id"]),
            "vehicle_id": v.vehicle_id,
            "trip_id": v.trip_id or None,
            "route_id": v.route_id or None,
            "route_name": route_name,
            "lat": float(event["lat"]),
            "lon": float(event["lon"]),
            "bearing": _opt_float(event.get("bearing")),
            "speed": _opt_float(event.get("speed")),
            "event_time": int(event["ts"]),
            "distance_along_m": round(v.dist_m, 1),
            "offset_m": round(v.offset_m, 1),
            "next_stop_id": plan.stop_ids[v.next_stop] if plan is not None and nxt else None,
            "next_stop_sequence": plan.stop_sequences[v.next_stop] if plan and nxt else None,
            "schedule_deviation_s": round(v.delay_s),
        }
        return OutRow(ENRICHED, v.vehicle_id, value)

    def _etas(self, v: VehicleState, arrival_s: list[float]) -> list[OutRow]:
        """The records of this fix's predictions that `publish` says to send, built straight
        from the plan (no `Prediction` for the ones it holds back)."""
        plan = self.predictor.catalog.plan(v.trip_id)
        if plan is None:
            return []
        now = v.ts_ms
        sent, due = to_publish(
            self.sent.get(v.vehicle_id),
            plan.trip_id,
            first_predicted(v),
            arrival_s,
            now,
            self.predictor.settings,
        )
        self.sent[v.vehicle_id] = sent
        return [_eta_row(plan, v, k, predicted, now) for k, predicted in due]

    def _anomaly(self, a: AnomalyEvent, event: Mapping[str, Any] | None) -> OutRow:
        slot = f"{a.vehicle_id}|{a.kind}"
        if a.status == "open":
            self.opened[slot] = a.event_time
            opened = a.event_time
        elif a.status == "close":
            opened = self.opened.pop(slot, a.event_time)
        else:
            opened = a.event_time
        value = {
            "anomaly_id": anomaly_id(a.vehicle_id, a.kind, opened),
            "kind": a.kind,
            "state": {"open": "open", "close": "closed"}.get(a.status, "instant"),
            "severity": a.severity,
            "vehicle_id": a.vehicle_id,
            "trip_id": a.trip_id or None,
            "route_id": a.route_id or None,
            "event_time": a.event_time,
            "lat": float(event["lat"]) if event is not None else None,
            "lon": float(event["lon"]) if event is not None else None,
            "evidence": {k: str(v) for k, v in a.evidence.items()},
        }
        return OutRow(ANOMALY, a.vehicle_id, value)


def _eta_row(plan: TripPlan, v: VehicleState, k: int, predicted: int, now: int) -> OutRow:
    """A `stop.eta.v1` value; the same fields as `predict.eta.make_prediction` gives."""
    stop_id = plan.stop_ids[k]
    value = {
        "stop_id": stop_id,
        "stop_sequence": plan.stop_sequences[k],
        "vehicle_id": v.vehicle_id,
        "trip_id": plan.trip_id,
        "route_id": plan.route_id,
        "predicted_time": predicted,
        "prediction_time": now,
        "horizon_s": round((predicted - now) / 1000.0),
        "scheduled_time": v.day_start_ms + plan.arr_s[k] * 1000 or None,
        "model": "segments-v1",
    }
    return OutRow(ETA, stop_id, value)


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN (pandas' missing) -> None
