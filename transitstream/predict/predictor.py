"""An in-process predictor for a whole fleet: the states, kept in dicts, around `step`.

What a notebook, a test or the evaluation uses; the stream job keeps the same states in Spark's
state store instead and calls `step`, `learn` and `detect_bunching` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transitstream.config import PredictSettings
from transitstream.predict.bunching import detect_bunching
from transitstream.predict.catalog import Catalog
from transitstream.predict.eta import predict_arrivals
from transitstream.predict.segments import learn
from transitstream.predict.state import (
    AnomalyEvent,
    BunchingState,
    SegmentState,
    StepResult,
    VehicleState,
)
from transitstream.predict.vehicle import step


class Predictor:
    """Feed it events in event-time order per vehicle; segment times are learned as they come,
    and each matched fix predicts every stop ahead with what it just taught them."""

    def __init__(
        self,
        catalog: Catalog,
        settings: PredictSettings | None = None,
        *,
        baselines: bool = False,
        learning: bool = True,
        predictions: bool = True,
    ) -> None:
        self.catalog = catalog
        self.settings = settings or PredictSettings()
        self.baselines = baselines
        self.learning = learning
        self.predictions = predictions  # False: the caller predicts (the stream job, per batch)
        self.vehicles: dict[str, VehicleState] = {}
        self.segments = SegmentState()
        self.bunching = BunchingState()

    def process(self, event: Mapping[str, Any]) -> StepResult:
        vid = str(event["vehicle_id"])
        v, res = step(
            event,
            self.vehicles.get(vid),
            self.segments,
            self.catalog,
            self.settings,
            baselines=self.baselines,
        )
        self.vehicles[vid] = v
        if self.learning:
            for obs in res.observations:
                learn(self.segments, obs, self.settings)
        if self.predictions and res.match is not None:
            plan = self.catalog.plan(v.trip_id)
            assert plan is not None  # matched: its trip is in the feed
            res.predictions = predict_arrivals(plan, v, self.segments, v.ts_ms, self.settings)
        return res

    def check_bunching(self, now_ms: int) -> list[AnomalyEvent]:
        """Run the cross-vehicle rule over every vehicle's latest state (all routes at once)."""
        return detect_bunching(
            self.vehicles.values(), self.catalog, self.bunching, now_ms, self.settings
        )
