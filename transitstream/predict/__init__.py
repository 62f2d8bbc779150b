"""Map matching, arrival predictions and anomaly rules: the stream job's logic, as pure Python.

Nothing here imports Spark or does I/O, so it is tested on its own and replayed exactly.

The entry point is `step(event, vehicle_state, segment_state, catalog, settings)`, called per
vehicle in event-time order (module `vehicle`); its traversals are folded in with
`segments.learn`, and `eta.predict_arrivals` then predicts the stops ahead (`Predictor` does
all three per fix; the stream job predicts once per vehicle and micro-batch). Its state comes
in two kinds (see `state`): per vehicle (last match, time, delay, pace, open anomalies), and per
segment (learned travel times, shared by every vehicle of a route, with a route line and a fleet
line above them). How to run it in Spark Structured Streaming (`applyInPandasWithState`), as
we recommend:

* Group by **route_id**, not vehicle_id. A route's group then holds its vehicles' states, its
  segment state and its bunching state together: a traversal learned from one bus reaches the
  route's other buses in the same micro-batch, and bunching (which needs every bus of the route)
  runs in the same place. Routes are few (CARTA: 14) but each group is cheap (about 10,000
  events/s per core, map matching and ~30 stop predictions per event), and a vehicle that
  changes route simply starts a new trip in the other group. The one thing this does not share
  is the fleet-wide line (`segments.FLEET`): in a route's group it is learned from that route
  alone, which only makes a new route's first minutes lean on the timetable a little longer.
* Group by vehicle_id only if routes ever become too big for one task: call `step` there, emit
  `StepResult.observations` to a topic, fold them per route (and fleet) in a second stateful
  query with `learn`, and hand the per-vehicle query the latest segment state as a broadcast
  refreshed per micro-batch. Learned times then lag by a batch, which costs nothing measurable:
  they move over hours, not seconds. Bunching then needs its own query grouped by route over the
  enriched positions (`detect_bunching` takes any vehicles' latest states).
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
from transitstream.predict.vehicle import step

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
