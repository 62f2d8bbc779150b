"""Map matching, arrival predictions and anomaly rules: the stream job's logic, as pure Python.

Nothing here imports Spark or does I/O, so it is tested on its own and replayed exactly.

The entry point is `step(event, vehicle_state, segment_state, catalog, settings)`, called per
vehicle in event-time order. Its state comes in two kinds (see `state`): per vehicle, and per
segment (learned travel times, shared by every vehicle of a route). How to run it in Spark
Structured Streaming (`applyInPandasWithState`), as we recommend:

* Group by **route_id**, not vehicle_id. A route's group then holds its vehicles' states, its
  segment state and its bunching state together: learned segment times reach the route's other
  vehicles in the same micro-batch, and bunching (which needs every bus of the route) runs in the
  same place. Routes are few (CARTA: 14) but each is cheap (tens of thousands of events/s per
  core), and a vehicle that changes route just starts a new trip in the other group.
* If parallelism by vehicle is needed later: group by vehicle_id with `step`, emit
  `StepResult.observations` to a topic, aggregate them per route in a second stateful query
  (`learn`), and give the per-vehicle query the latest segment state as a broadcast refreshed per
  micro-batch. Learned times then lag by a batch, which costs nothing measurable: they move over
  hours, not seconds.
"""

from transitstream.predict.anomalies import close_all, severity
from transitstream.predict.baselines import distance_speed, timetable
from transitstream.predict.bunching import detect_bunching, headways
from transitstream.predict.catalog import Catalog, TripPlan
from transitstream.predict.eta import pace, predict_arrivals
from transitstream.predict.mapmatch import deviation_s, initial_match, track_match
from transitstream.predict.predictor import Predictor
from transitstream.predict.segments import estimate_s, expected_s, learn, route_line
from transitstream.predict.state import (
    AnomalyEvent,
    BunchingState,
    Match,
    Prediction,
    RouteStat,
    SegmentObservation,
    SegmentStat,
    SegmentState,
    StepResult,
    VehicleState,
)
from transitstream.predict.step import step

__all__ = [
    "AnomalyEvent",
    "BunchingState",
    "Catalog",
    "Match",
    "Prediction",
    "Predictor",
    "RouteStat",
    "SegmentObservation",
    "SegmentStat",
    "SegmentState",
    "StepResult",
    "TripPlan",
    "VehicleState",
    "close_all",
    "detect_bunching",
    "deviation_s",
    "distance_speed",
    "estimate_s",
    "expected_s",
    "headways",
    "initial_match",
    "learn",
    "pace",
    "predict_arrivals",
    "route_line",
    "severity",
    "step",
    "timetable",
    "track_match",
]
