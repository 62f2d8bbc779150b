"""Anomaly detection against the simulator's injected faults: recall and false positives.

An injected fault counts as found when a rule of the matching kind opened on the same vehicle
between its start and its end (plus `TOLERANCE_S`, since a stall is only a stall after a few
minutes). An opening of those kinds that matches no fault is a false positive. Late, early and
bunching are not injected (they happen, or not, as the traffic model makes them), so they are
counted but not scored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from transitstream.predict import AnomalyEvent
from transitstream.simulate import Anomaly

RULE_OF = {"detour": "off_route", "stall": "stalled", "jump": "jump"}
TOLERANCE_S = 120.0


@dataclass
class AnomalyScore:
    kind: str  # the simulator's kind
    injected: int
    found: int
    false_positives: int
    missed: list[str] = field(default_factory=list)  # "vehicle@start_ms"


def score_anomalies(
    injected: Iterable[Anomaly], detected: Iterable[AnomalyEvent], tolerance_s: float = TOLERANCE_S
) -> list[AnomalyScore]:
    faults = list(injected)
    opens = [a for a in detected if a.status != "close"]
    tol = round(tolerance_s * 1000)
    out = []
    for kind, rule in RULE_OF.items():
        mine = [f for f in faults if f.kind == kind]
        candidates = [a for a in opens if a.kind == rule]
        used: set[int] = set()
        found, missed = 0, []
        for f in mine:
            hit = next(
                (
                    i
                    for i, a in enumerate(candidates)
                    if i not in used
                    and a.vehicle_id == f.vehicle_id
                    and f.start_ms - tol <= a.event_time <= f.end_ms + tol
                ),
                None,
            )
            if hit is None:
                missed.append(f"{f.vehicle_id}@{f.start_ms}")
            else:
                used.add(hit)
                found += 1
        out.append(AnomalyScore(kind, len(mine), found, len(candidates) - len(used), missed))
    return out
