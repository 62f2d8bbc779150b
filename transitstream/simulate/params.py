"""What a simulation run is asked to do, in one frozen value.

A frozen dataclass rather than loose arguments because the same value feeds the event generator,
the fault planner, the ground truth (`run.json` records it) and the seeded determinism test:
equal `SimParams` (and an equal `now`) must give equal events.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from transitstream.config import SimulateSettings
from transitstream.errors import ConfigError


@dataclass(frozen=True)
class SimParams:
    """A run's knobs. Times are sim seconds unless the name says wall.

    `duration_s` is in *wall* seconds; the simulated window is `duration_s * speedup` long.
    `start_s` is seconds since the service day's start (GTFS time, may pass 24 h); None anchors
    the window so that it ends at wall-clock now (see `clock.make_clock`). `realtime` False means
    the run posts as fast as the ingestor takes it; the window then ends at now when it starts.
    """

    vehicles: int = 20
    speedup: float = 10.0
    duration_s: float | None = 120.0
    report_every_s: float = 10.0
    seed: int = 42
    start_s: float | None = None
    template_date: date | None = None
    run_date: date | None = None
    detours: int = 2
    stalls: int = 2
    jumps: int = 2
    bad_rate: float = 0.01
    bad_rates: Mapping[str, float] = field(default_factory=dict)
    not_json_rate: float = 0.02
    gps_sigma_m: float = 4.0
    replicate: bool = False
    vehicle_prefix: str = "bus"  # ids are <prefix>-001...: two fleets in one log stay apart
    realtime: bool = True
    out_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.vehicles < 1:
            raise ConfigError(f"vehicles must be >= 1, got {self.vehicles}")
        if self.speedup < 1:
            raise ConfigError(
                f"speedup must be >= 1, got {self.speedup}: slower than real time would put "
                "events ahead of the wall clock"
            )
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError(f"duration must be > 0 wall seconds, got {self.duration_s}")
        if self.duration_s is None and self.speedup != 1:
            raise ConfigError(
                "an unbounded run (duration 0) needs speedup 1: an accelerated clock would run "
                "ahead of the wall clock and the ingestor would reject its events as future ones"
            )
        if self.report_every_s <= 0:
            raise ConfigError(f"report interval must be > 0, got {self.report_every_s}")
        if not 0 <= self.bad_rate <= 1 or not 0 <= self.not_json_rate <= 1:
            raise ConfigError("bad-rate and not-json-rate are probabilities in [0, 1]")

    @property
    def span_s(self) -> float | None:
        """Length of the simulated window; None when the run goes on until stopped."""
        return None if self.duration_s is None else self.duration_s * self.speedup

    @classmethod
    def from_settings(cls, s: SimulateSettings, **overrides: Any) -> SimParams:
        """Settings' defaults, then explicit overrides (None means "keep the default")."""
        base: dict[str, Any] = {
            "vehicles": s.vehicles,
            "speedup": s.speedup,
            "duration_s": s.duration_s or None,
            "report_every_s": s.report_every_s,
            "seed": s.seed,
            "detours": s.detours,
            "stalls": s.stalls,
            "jumps": s.jumps,
            "bad_rate": s.bad_rate,
            "not_json_rate": s.not_json_rate,
            "gps_sigma_m": s.gps_sigma_m,
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        if base.get("duration_s") == 0:
            base["duration_s"] = None
        return cls(**base)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for `run.json`."""
        out = dataclasses.asdict(self)
        for key in ("template_date", "run_date", "out_dir"):
            if out[key] is not None:
                out[key] = str(out[key])
        out["bad_rates"] = dict(self.bad_rates)
        return out
