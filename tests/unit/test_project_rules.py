"""The projectors' pure rules: coalescing a batch gives the row that applying its records one by
one gives, whatever the order; closed anomalies stay closed; bad records are refused."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from transitstream.errors import TransitStreamError
from transitstream.project import direct
from transitstream.project.batch import Batch
from transitstream.project.tables import (
    ANOMALIES,
    ETAS,
    VEHICLES,
    InvalidRecord,
    Row,
    Table,
    select,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def fix(vehicle: str, s: int, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": f"{vehicle}-{s}", "vehicle_id": vehicle, "trip_id": "T1", "route_id": "R1",
        "route_name": "1", "lat": 35.0 + s / 1e4, "lon": -85.0, "bearing": None, "speed": 5.0,
        "event_time": T0 + timedelta(seconds=s), "distance_along_m": float(s),
        "offset_m": 1.0, "next_stop_id": "S2", "next_stop_sequence": 2,
        "schedule_deviation_s": -12, **kw,
    }  # fmt: skip


def prediction(vehicle: str, seq: int, made_s: int, ahead_s: int = 120) -> dict[str, Any]:
    made = T0 + timedelta(seconds=made_s)
    return {
        "stop_id": f"S{seq}", "stop_sequence": seq, "vehicle_id": vehicle, "trip_id": "T1",
        "route_id": "R1", "predicted_time": made + timedelta(seconds=ahead_s),
        "prediction_time": made, "horizon_s": ahead_s, "scheduled_time": None, "model": "m",
    }  # fmt: skip


def anomaly(state: str, at_s: int, opened_s: int = 100, severity: str = "info") -> dict[str, Any]:
    evidence = {"duration_s": str(float(at_s - opened_s))} if state == "closed" else {}
    return {
        "anomaly_id": "a1", "kind": "stalled", "state": state, "severity": severity,
        "vehicle_id": "v1", "trip_id": "T1", "route_id": "R1",
        "event_time": T0 + timedelta(seconds=at_s), "lat": 1.0, "lon": 2.0, "evidence": evidence,
    }  # fmt: skip


def coalesce(table: Table, rows: list[Row]) -> dict[tuple[Any, ...], Row]:
    """A batch's rows, coalesced as the projector does it (Batch.add_row)."""
    batch = Batch()
    for row in rows:
        batch.add_row(table, row)
    return batch.rows.get(table.name, {})


def one_by_one(table: Table, rows: list[Row]) -> dict[tuple[Any, ...], Row]:
    """What the SQL upserts do, record by record, in log order."""
    out: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        key = table.key_of(row)
        out[key] = table.merge(out[key], row) if key in out else row
    return out


def test_ten_reports_of_one_vehicle_are_one_row_the_newest() -> None:
    rows = [VEHICLES.to_row(fix("v1", s)) for s in (30, 10, 50, 20, 40, 0, 90, 60, 70, 80)]
    rows.append(VEHICLES.to_row(fix("v2", 5)))
    out = coalesce(VEHICLES, rows)
    assert len(out) == 2
    newest = out[("v1",)]
    assert newest[VEHICLES.index("event_time")] == T0 + timedelta(seconds=90)
    assert newest[VEHICLES.index("delay_s")] == -12  # from schedule_deviation_s


def test_an_older_fix_never_replaces_a_newer_one_and_a_tie_keeps_the_first() -> None:
    first = VEHICLES.to_row(fix("v1", 10, lat=1.0))
    tie = VEHICLES.to_row(fix("v1", 10, lat=2.0))
    older = VEHICLES.to_row(fix("v1", 5, lat=3.0))
    assert VEHICLES.merge(first, tie) == first
    assert VEHICLES.merge(first, older) == first
    assert VEHICLES.merge(older, first) == first


def test_etas_keep_the_latest_prediction_per_vehicle_trip_and_stop_visit() -> None:
    rows = [ETAS.to_row(prediction("v1", seq, made)) for made in (20, 0, 10) for seq in (3, 4)]
    out = coalesce(ETAS, rows)
    assert sorted(out) == [("v1", "T1", 3), ("v1", "T1", 4)]
    made = {k: r[ETAS.index("prediction_time")] for k, r in out.items()}
    assert set(made.values()) == {T0 + timedelta(seconds=20)}


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_an_anomaly_ends_the_same_whatever_order_its_records_arrive_in(order: tuple) -> None:
    records = [
        anomaly("open", 100),
        anomaly("closed", 400, severity="warning"),
        anomaly("open", 100),
    ]
    rows = [ANOMALIES.to_row(records[i]) for i in order]
    (row,) = coalesce(ANOMALIES, rows).values()
    col = {c: row[i] for i, c in enumerate(ANOMALIES.columns)}
    assert col["state"] == "closed"  # an older open record does not reopen it
    assert col["opened_at"] == T0 + timedelta(seconds=100)
    assert col["closed_at"] == col["event_time"] == T0 + timedelta(seconds=400)
    assert col["severity"] == "warning"  # details from the newest record


def test_a_close_seen_alone_knows_when_the_anomaly_opened() -> None:
    row = ANOMALIES.to_row(anomaly("closed", 400, opened_s=150))
    assert row[ANOMALIES.index("opened_at")] == T0 + timedelta(seconds=150)
    instant = ANOMALIES.to_row(anomaly("instant", 70))
    assert instant[ANOMALIES.index("closed_at")] == T0 + timedelta(seconds=70)


@pytest.mark.parametrize("table,records", [
    (VEHICLES, [fix(f"v{i % 4}", random.Random(i).randint(0, 300)) for i in range(60)]),
    (ETAS, [prediction(f"v{i % 3}", 2 + i % 5, random.Random(i).randint(0, 60))
            for i in range(60)]),
])  # fmt: skip
def test_coalescing_a_batch_equals_applying_it_record_by_record(
    table: Table, records: list[dict[str, Any]]
) -> None:
    rows = [table.to_row(r) for r in records]
    half = len(rows) // 2  # two batches, each coalesced, then merged as the upsert would
    merged = one_by_one(
        table, [*coalesce(table, rows[:half]).values(), *coalesce(table, rows[half:]).values()]
    )
    assert merged == one_by_one(table, rows)


def test_records_the_model_cannot_hold_are_dead_lettered_and_the_offset_moves_on() -> None:
    batch = Batch()
    batch.add(ANOMALIES, {**anomaly("open", 1), "state": "reopened"}, "t", 0, 7, b"k", b"raw")
    batch.add(VEHICLES, {**fix("v1", 1), "lat": None}, "e", 1, 3)
    batch.add(VEHICLES, fix("v1", 2), "e", 1, 4)
    assert [d.reason for d in batch.dead] == ["invalid", "invalid"]
    assert "reopened" in batch.dead[0].error and batch.dead[0].value == b"raw"
    assert batch.offsets == {("anomalies", "t", 0): 8, ("vehicles", "e", 1): 5}
    assert len(batch.row_lists()["vehicle_state"]) == 1
    with pytest.raises(InvalidRecord):
        ETAS.to_row({**prediction("v", 1, 0), "trip_id": None})


def test_projector_names() -> None:
    assert [t.name for t in select("all")] == ["vehicle_state", "stop_eta", "vehicle_anomaly"]
    assert [t.name for t in select(["etas"])] == ["stop_eta"]
    with pytest.raises(TransitStreamError, match="choose from"):
        select("buses")


def test_write_records_gives_each_table_its_own_records(monkeypatch: pytest.MonkeyPatch) -> None:
    written: dict[str, list[Row]] = {}

    def write_batch(_conn: Any, tables: list[tuple[Table, list[Row]]], *_: Any, **__: Any) -> Any:
        written.update({table.name: rows for table, rows in tables})
        return {name: len(rows) for name, rows in written.items()}

    monkeypatch.setattr(direct.writer, "write_batch", write_batch)
    direct.write_records(None, {"vehicles": [fix("v1", 1)], "etas": [prediction("v1", 2, 1)]})  # type: ignore[arg-type]
    assert written[VEHICLES.name] == [VEHICLES.to_row(fix("v1", 1))]
    assert written[ETAS.name] == [ETAS.to_row(prediction("v1", 2, 1))]
