"""What a run did, as one value: returned by `run()`, written to `run.json`, shown as a table.

Integration tests and notebooks read it instead of parsing output, so the counts that matter for
checking the ingestor (injected bad events by kind, the rejection code each got) are first-class.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transitstream.simulate.faults import Anomaly
from transitstream.simulate.params import SimParams


@dataclass
class Counts:
    """Running totals, updated as batches are answered."""

    generated: int = 0  # good events produced
    injected: Counter[str] = field(default_factory=Counter)  # bad events and bodies, by kind
    sent: int = 0  # items and bodies the ingestor answered for
    accepted: int = 0
    rejected: int = 0
    rejected_by_code: Counter[str] = field(default_factory=Counter)
    bad_matched: Counter[str] = field(default_factory=Counter)  # kind -> got the expected code
    mismatches: Counter[str] = field(default_factory=Counter)  # "kind: expected x, got y"
    good_rejected: Counter[str] = field(default_factory=Counter)  # code -> good events refused
    batches: int = 0
    retries: int = 0
    failed_batches: int = 0
    failed_events: int = 0
    failure: str | None = None


@dataclass
class RunSummary:
    """The outcome of `run()`. `ok` is False when any batch could not be delivered."""

    run_id: str
    out_dir: Path
    files: dict[str, Path]
    params: SimParams
    template_date: str
    run_date: str
    timezone: str
    gtfs_path: str  # the feed the fleet was driven along
    window_start_ms: int
    window_end_ms: int | None
    vehicles: list[dict[str, Any]]
    ticks: int
    counts: Counts
    anomalies: list[Anomaly]
    arrivals: int
    notes: list[str]
    elapsed_s: float
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.counts.failure is None and self.counts.failed_batches == 0

    @property
    def rate(self) -> float:
        """Items and bodies answered per wall second."""
        return self.counts.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "run_id": self.run_id,
            "ok": self.ok,
            "seed": self.params.seed,
            "params": self.params.as_dict(),
            "template_date": self.template_date,
            "run_date": self.run_date,
            "timezone": self.timezone,
            "gtfs_path": self.gtfs_path,
            "window": {"start_ms": self.window_start_ms, "end_ms": self.window_end_ms},
            "vehicles": self.vehicles,
            "ticks": self.ticks,
            "counts": {
                "generated": c.generated,
                "injected": dict(c.injected),
                "sent": c.sent,
                "accepted": c.accepted,
                "rejected": c.rejected,
                "rejected_by_code": dict(c.rejected_by_code),
                "bad_matched": dict(c.bad_matched),
                "mismatches": dict(c.mismatches),
                "good_rejected": dict(c.good_rejected),
                "batches": c.batches,
                "retries": c.retries,
                "failed_batches": c.failed_batches,
                "failed_events": c.failed_events,
            },
            "failure": c.failure,
            "interrupted": self.interrupted,
            "anomalies": len(self.anomalies),
            "arrivals": self.arrivals,
            "notes": self.notes,
            "elapsed_s": round(self.elapsed_s, 3),
            "files": {k: str(v) for k, v in self.files.items()},
            "time_unit": "epoch milliseconds (UTC) in every *_ms field and CSV time column",
        }
