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
    Prediction,
    Predictor,
    SegmentState,
    TripPlan,
    VehicleState,
)
from transitstream.predict.eta import arrival_times, first_predicted, make_prediction
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
        self.predictor = Predictor(catalog, settings, predictions=False)  # ETAs: see `process`
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
        """One micro-batch of this route's events, in event-time order -> enriched, ETA and
        anomaly rows.

        Every fix is matched, checked for anomalies and sent enriched; the ETAs are predicted
        once per vehicle, from its latest fix of the batch (after the whole batch's segment
        learning). An earlier fix's predictions would go out in the same transaction as the later
        ones and be overwritten by them at once, so computing them is pure waste: "conflation".
        At one fix per vehicle per batch (a live fleet) nothing changes; when a batch holds
        several (catching up on a backlog after a restart), the job does that much less work.
        """
        out: list[OutRow] = []
        matched: dict[str, TripPlan] = {}  # vehicle -> its trip, for those with a used fix
        last_ts = 0
        predictor = self.predictor
        for event in events:
            res = predictor.process(event)
            if res.match is not None:  # matched: the vehicle's trip is in the feed
                vid = str(event["vehicle_id"])
                v = predictor.vehicles[vid]
                plan = predictor.catalog.plan(v.trip_id)
                assert plan is not None
                out.append(self._enriched(event, v, plan))
                matched[vid] = plan
            out += [self._anomaly(a, event) for a in res.anomalies]
            last_ts = max(last_ts, int(event["ts"]))
        for vid, plan in matched.items():  # each vehicle as its latest fix left it
            out += self._etas(predictor.vehicles[vid], plan)
        if last_ts:
            out += [self._anomaly(a, None) for a in predictor.check_bunching(last_ts)]
        return out

    def _enriched(self, event: Mapping[str, Any], v: VehicleState, plan: TripPlan) -> OutRow:
        route = self.predictor.catalog.feed.routes.get(v.route_id)
        route_name = event.get("route_name") or (route.name if route else None)
        nxt = v.next_stop < len(plan.stop_ids)
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
            "next_stop_id": plan.stop_ids[v.next_stop] if nxt else None,
            "next_stop_sequence": plan.stop_sequences[v.next_stop] if nxt else None,
            "schedule_deviation_s": round(v.delay_s),
        }
        return OutRow(ENRICHED, v.vehicle_id, value)

    def _etas(self, v: VehicleState, plan: TripPlan) -> list[OutRow]:
        """The records of the vehicle's predictions (from its latest fix) that `publish` says to
        send (no `Prediction` is made for the ones it holds back, most of them)."""
        p = self.predictor
        settings = p.settings
        arrival_s = arrival_times(plan, v, p.segments, v.ts_ms, settings)
        first = first_predicted(v)
        sent, due = to_publish(
            self.sent.get(v.vehicle_id), plan.trip_id, first, arrival_s, v.ts_ms, settings
        )
        self.sent[v.vehicle_id] = sent
        return [
            eta_record(make_prediction(plan, v, k, arrival_s[k - first], v.ts_ms, "model"))
            for k, _ in due
        ]

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


def eta_record(p: Prediction) -> OutRow:
    """A `stop.eta.v1` record of a prediction."""
    value = {
        "stop_id": p.stop_id,
        "stop_sequence": p.stop_sequence,
        "vehicle_id": p.vehicle_id,
        "trip_id": p.trip_id,
        "route_id": p.route_id,
        "predicted_time": p.predicted_time,
        "prediction_time": p.prediction_time,
        "horizon_s": round(p.horizon_s),
        "scheduled_time": p.scheduled_time or None,
        "model": "segments-v1",
    }
    return OutRow(ETA, p.stop_id, value)


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN (pandas' missing) -> None
