"""Cached answers render exactly what the uncached route computes, at any later instant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from transitstream.config import Settings
from transitstream.serve.answers import Board, VehicleAnswer
from transitstream.serve.encode import Template, scalars
from transitstream.serve.models import Anomaly, EtaResponse, StopRef, VehicleDetail
from transitstream.serve.queries import arrival_model, vehicle_model
from transitstream.serve.reference import Reference, load_reference

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PG = ZoneInfo("Etc/UTC")  # what psycopg hands back for timestamptz
STOP = StopRef(stop_id="1939", name="Main", lat=35.0, lon=-85.3, code=None)
GRACE, MAX_AGE = 30.0, 600.0


@pytest.fixture(scope="module")
def ref() -> Reference:
    return load_reference(Path(Settings().gtfs_path), 8.0)


def eta_row(i: int, predicted_s: float, age_s: float = 4.0) -> dict[str, object]:
    return {
        "vehicle_id": f"bus-{i}", "trip_id": "1025020", "route_id": "1", "stop_id": "1939",
        "stop_sequence": i, "predicted_time": (NOW + timedelta(seconds=predicted_s)).astimezone(PG),
        "scheduled_time": NOW + timedelta(seconds=predicted_s - 45.25),
        "prediction_time": (NOW - timedelta(seconds=age_s)).astimezone(PG),
        "horizon_s": 94, "model": "segments", "revision": i,
    }  # fmt: skip


def uncached(rows: list[dict[str, object]], now: datetime, ref: Reference, limit: int) -> bytes:
    """What the route computed before the cache: the query's filters, then the models."""
    kept = [
        r
        for r in rows
        if r["predicted_time"] >= now - timedelta(seconds=GRACE)  # type: ignore[operator]
        and r["prediction_time"] >= now - timedelta(seconds=MAX_AGE)  # type: ignore[operator]
    ][:limit]
    arrivals = [arrival_model(r, now, ref) for r in kept]
    return EtaResponse(stop=STOP, generated_at=now, arrivals=arrivals).model_dump_json().encode()


def test_template_renders_the_models_own_json(ref: Reference) -> None:
    arrival = arrival_model(eta_row(1, 90.4), NOW, ref)
    template = Template(arrival, ["prediction_age_s", "seconds_away"])
    assert template.slots == ("seconds_away", "prediction_age_s")  # the model's field order
    body = template.render(scalars([arrival.seconds_away, arrival.prediction_age_s]))
    assert body == arrival.model_dump_json().encode()
    with pytest.raises(ValueError, match="no field"):
        Template(arrival, ["nope"])


class Sample(BaseModel):
    n: int
    x: float
    zero: float
    tiny: float
    flag: bool
    at: datetime
    name: str = "a, b"


def test_scalars_encode_as_the_models_fields_do() -> None:
    values = [-3, 12.3, -0.0, 1e-7, True, NOW + timedelta(microseconds=7)]
    sample = Sample(n=-3, x=12.3, zero=-0.0, tiny=1e-7, flag=True, at=values[-1])
    template = Template(sample, ["n", "x", "zero", "tiny", "flag", "at"])
    assert template.render(scalars(values)) == sample.model_dump_json().encode()
    assert scalars([NOW]) == [b'"2026-11-25T12:00:00Z"'] and scalars([]) == []


@pytest.mark.parametrize("later_s", [0.0, 0.04, 0.05, 0.55, 1.0, 29.9, 61.3, 95.0, 400.0])
def test_board_equals_a_fresh_read_at_any_later_instant(ref: Reference, later_s: float) -> None:
    rows = [eta_row(1, -20.0), eta_row(2, 30.5), eta_row(3, 60.0, age_s=590.0), eta_row(4, 91.2)]
    board = Board.build(STOP, rows, NOW, ref, GRACE, MAX_AGE, limit=10)
    assert not board.full
    now = NOW + timedelta(seconds=later_s)
    assert board.render(now, 10) == uncached(rows, now, ref, 10)
    assert board.render(now, 2) == uncached(rows, now, ref, 2)


def test_a_full_board_is_a_miss_once_a_row_leaves(ref: Reference) -> None:
    """With `limit` rows held, the next row in Postgres would move up: only a read knows it."""
    rows = [eta_row(1, -20.0), eta_row(2, 30.0), eta_row(3, 60.0)]
    board = Board.build(STOP, rows[:2], NOW, ref, GRACE, MAX_AGE, limit=2)
    assert board.full
    assert board.render(NOW + timedelta(seconds=10), 2) == uncached(
        rows, NOW + timedelta(seconds=10), ref, 2
    )
    assert board.render(NOW + timedelta(seconds=10.001), 2) is None  # bus-1 passed 30 s ago


def test_one_board_answers_every_limit_it_holds(ref: Reference) -> None:
    """A board is cached once per stop, read at the largest limit asked; a smaller limit takes
    its first rows, and a full board answers a limit it no longer holds with a miss."""
    rows = [eta_row(i, -20.0 + 30 * i) for i in range(1, 6)]
    board = Board.build(STOP, rows[:4], NOW, ref, GRACE, MAX_AGE, limit=4)
    assert board.full and board.limit == 4
    for limit in (1, 3, 4):
        assert board.render(NOW, limit) == uncached(rows, NOW, ref, limit)
    later = NOW + timedelta(seconds=40.5)  # bus-1 left: 3 rows held, the 4th is in Postgres
    assert board.render(later, 3) == uncached(rows, later, ref, 3)
    assert board.render(later, 4) is None
    assert board.render(NOW, 5) is None  # more than it was read with
    small = Board.build(STOP, rows[:2], NOW, ref, GRACE, MAX_AGE, limit=10)
    assert small.render(NOW, 50) == uncached(rows[:2], NOW, ref, 50)  # nothing behind it


def test_an_empty_board_renders_an_empty_list(ref: Reference) -> None:
    board = Board.build(STOP, [], NOW, ref, GRACE, MAX_AGE, limit=10)
    assert board.render(NOW, 10) == uncached([], NOW, ref, 10)


@pytest.mark.parametrize("later_s", [0.0, 0.05, 100.0, 170.96, 171.0, 3600.0])
@pytest.mark.parametrize("flagged", [False, True])
def test_vehicle_equals_a_fresh_read(ref: Reference, later_s: float, flagged: bool) -> None:
    row = {
        "vehicle_id": "bus-1", "route_id": "1", "route_name": None, "trip_id": "1025020",
        "lat": 35.0, "lon": -85.3, "bearing": 90.0, "speed": 7.5, "delay_s": 40,
        "next_stop_id": "1939", "next_stop_sequence": 3, "stale": flagged, "revision": 9,
        "event_time": (NOW - timedelta(seconds=9.04)).astimezone(PG),
    }  # fmt: skip
    anomaly = Anomaly(
        anomaly_id="a1", kind="late", state="open", severity="warning", vehicle_id="bus-1",
        opened_at=NOW, event_time=NOW, evidence={"s": 1},
    )  # fmt: skip
    answer = VehicleAnswer.build(vehicle_model(row, NOW, 180.0, ref), row, [anomaly], 180.0)
    now = NOW + timedelta(seconds=later_s)
    fresh = VehicleDetail(
        **vehicle_model(row, now, 180.0, ref).model_dump(), open_anomalies=[anomaly]
    )
    assert answer.render(now) == fresh.model_dump_json().encode()
    assert json.loads(answer.render(now))["stale"] is (flagged or later_s + 9.04 > 180)
