"""A GTFS-driven fleet simulator: vehicles drive the feed's trips and post GPS fixes to ingest.

Use `run(SimParams(...))` to drive the ingestor (returns a `RunSummary`), or
`Simulation.build(feed, params).ticks()` to get the events without HTTP. Nothing here connects
or reads the feed at import time.
"""

from transitstream.simulate.badevents import EXPECTED_CODE, NOT_JSON
from transitstream.simulate.client import IngestAuthError, IngestClient, PostResult
from transitstream.simulate.clock import SimClock, make_clock, template_date_for
from transitstream.simulate.faults import Anomaly
from transitstream.simulate.generate import Arrival, Simulation, SimulationError, Tick
from transitstream.simulate.gps import Fix
from transitstream.simulate.params import SimParams
from transitstream.simulate.run import first_token, run
from transitstream.simulate.summary import Counts, RunSummary

__all__ = [
    "EXPECTED_CODE",
    "NOT_JSON",
    "Anomaly",
    "Arrival",
    "Counts",
    "Fix",
    "IngestAuthError",
    "IngestClient",
    "PostResult",
    "RunSummary",
    "SimClock",
    "SimParams",
    "Simulation",
    "SimulationError",
    "Tick",
    "first_token",
    "make_clock",
    "run",
    "template_date_for",
]
