"""A simulated fleet through the real ingestor into real Kafka: nothing lost, nothing doubled."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from transitstream.config import Settings
from transitstream.gtfs import load_feed
from transitstream.ingest.audit import audit
from transitstream.simulate import SimParams, Simulation, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def good_event_ids(params: SimParams, now: datetime) -> set[str]:
    """Regenerate the run (same seed, same clock) without HTTP: the ids that must arrive."""
    sim = Simulation.build(load_feed(), params, now=now)
    ids = set()
    for tick in sim.ticks():
        ids.update(i["event_id"] for i, k in zip(tick.items, tick.kinds, strict=True) if k is None)
    return ids


def test_simulated_minutes_of_a_fleet_arrive_exactly_once(ingestor: Settings) -> None:
    params = SimParams(
        vehicles=12, speedup=30, duration_s=10, realtime=False, seed=7,
        bad_rate=0.03, not_json_rate=0.1, out_dir=ingestor.state_dir / "sim-it",
    )  # fmt: skip
    now = datetime.now(UTC)
    t0 = int(time.time() * 1000)
    summary = run(params, settings=ingestor, now=now, quiet=True)
    t1 = int(time.time() * 1000)
    c = summary.counts
    assert summary.ok, summary.counts.failure
    assert c.accepted > 200 and c.rejected > 0
    assert not c.mismatches and not c.good_rejected  # each bad kind got its expected code

    found = audit(ingestor, t0, t1)
    assert len(found.positions) == c.accepted
    assert found.duplicates == 0, "duplicate event_id in the topic"
    assert set(found.event_ids) == good_event_ids(params, now)

    assert len(found.dead_letters) == c.rejected
    assert found.rejected_by_code == c.rejected_by_code
    assert all(d["reason"] and d["raw"] and d["source"] == "ingest" for d in found.dead_letters)

    truth = summary.files["arrivals"].read_text().splitlines()
    assert len(truth) - 1 == summary.arrivals > 0
