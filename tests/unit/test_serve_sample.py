"""Sample rows follow the projectors' rules (folding per key, derived anomaly times), no SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.test_project_rules import coalesce
from transitstream.project.tables import ANOMALIES, VEHICLES, Row, Table
from transitstream.serve.sample import _anomaly, _eta, _vehicle

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def fix(lat: float, at: datetime) -> dict[str, object]:
    return {"vehicle_id": "bus-1", "route_id": "1", "lat": lat, "lon": -85.3, "event_time": at}


def _folded(table: Table, rows: list[dict[str, object]], to_row: Any) -> list[Row]:
    """What `project.direct.write_rows` upserts: the rows coalesced by the projectors' `Batch`."""
    return list(coalesce(table, [to_row(r) for r in rows]).values())


def test_a_batch_is_folded_per_key_strictly_newer_wins() -> None:
    later = NOW + timedelta(seconds=1)
    rows = _folded(VEHICLES, [fix(1.0, NOW), fix(2.0, later), fix(3.0, later)], _vehicle)
    assert len(rows) == 1
    assert rows[0][VEHICLES.index("lat")] == 2.0  # a tie keeps the row already there (SQL's >)
    assert rows[0][VEHICLES.index("event_id")].startswith("sample-bus-1-")


def test_stale_is_the_sweeps_not_a_column() -> None:
    with pytest.raises(ValueError, match=r"stale.*sweep"):
        _vehicle({**fix(1.0, NOW), "stale": True})
    with pytest.raises(ValueError, match="no column"):
        _eta({"vehicle_id": "bus-1", "colour": "red"})


def test_anomaly_times_are_derived_as_the_projector_does() -> None:
    closed = _anomaly({"anomaly_id": "a", "kind": "late", "state": "closed", "vehicle_id": "bus-1",
                       "event_time": NOW, "evidence": {"duration_s": 90}})  # fmt: skip
    assert closed[ANOMALIES.index("closed_at")] == NOW
    assert closed[ANOMALIES.index("opened_at")] == NOW - timedelta(seconds=90)
    reopened = _folded(
        ANOMALIES,
        [{"anomaly_id": "a", "kind": "late", "state": s, "vehicle_id": "bus-1",
          "event_time": NOW + timedelta(seconds=i)} for i, s in enumerate(["closed", "open"])],
        _anomaly,
    )  # fmt: skip
    assert reopened[0][ANOMALIES.index("state")] == "closed"  # a closed anomaly never reopens
