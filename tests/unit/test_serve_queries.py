"""Query building, cursors, staleness and row mapping, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from transitstream.config import Settings
from transitstream.serve.errors import ApiError
from transitstream.serve.queries import (
    arrival_model,
    decode_cursor,
    encode_cursor,
    eta_query,
    is_stale,
    vehicles_query,
)
from transitstream.serve.reference import Reference, load_reference, simplify

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ref() -> Reference:
    settings = Settings()
    return load_reference(Path(settings.gtfs_path), 8.0)


def test_eta_query_binds_every_value() -> None:
    q = eta_query(["12"], NOW, grace_s=30, max_age_s=600, limit=5)
    assert q.params["since"] == NOW - timedelta(seconds=30)
    assert q.params["fresh_after"] == NOW - timedelta(seconds=600)
    assert q.params["stop_ids"] == ["12"] and q.params["limit"] == 5
    assert "route_id = %(route_id)s" not in q.sql and "'12'" not in q.sql
    assert "route_id = %(route_id)s" in eta_query(["12"], NOW, 30, 600, 5, "4").sql


def test_vehicles_query_filters_and_pages() -> None:
    plain = vehicles_query(NOW, 180, limit=10)
    assert "vehicle_id >" not in plain.sql and plain.params["limit"] == 11
    q = vehicles_query(NOW, 180, limit=10, after="bus-9", route_id="4", stale=True)
    assert "vehicle_id > %(after)s" in q.sql and "route_id = %(route_id)s" in q.sql
    assert "(stale OR event_time < %(stale_before)s)" in q.sql
    assert q.params["stale_before"] == NOW - timedelta(seconds=180)
    assert "NOT stale AND" in vehicles_query(NOW, 180, 10, stale=False).sql


def test_cursor_round_trip_and_garbage() -> None:
    for vid in ("bus-1", "ünïcode/ä", "a" * 100):
        assert decode_cursor(encode_cursor(vid)) == vid
    with pytest.raises(ApiError) as err:
        decode_cursor("%%%")
    assert err.value.status == 422 and "next_cursor" in err.value.message


def test_stale_by_flag_or_by_silence() -> None:
    recent = {"stale": False, "event_time": NOW - timedelta(seconds=10)}
    assert not is_stale(recent, NOW, 180)
    assert is_stale({**recent, "stale": True}, NOW, 180)
    assert is_stale({**recent, "event_time": NOW - timedelta(seconds=181)}, NOW, 180)


def test_arrival_names_the_trip_and_computes_delay(ref: Reference) -> None:
    row = {
        "vehicle_id": "bus-1", "trip_id": "1025020", "route_id": "1", "stop_id": "1939",
        "stop_sequence": 1, "predicted_time": NOW + timedelta(seconds=90),
        "scheduled_time": NOW + timedelta(seconds=30),
        "prediction_time": NOW - timedelta(seconds=4),
        "horizon_s": 94, "model": "segments",
    }  # fmt: skip
    a = arrival_model(row, NOW, ref)
    assert a.seconds_away == 90 and a.delay_s == 60 and a.prediction_age_s == 4.0
    assert a.headsign == "ALTON PARK" and a.route_name == "1"
    assert arrival_model({**row, "scheduled_time": None}, NOW, ref).delay_s is None


def test_simplify_keeps_ends_and_shape() -> None:
    straight = [(35.0, -85.0 + i * 1e-4) for i in range(50)]
    assert simplify(straight, 1.0) == [straight[0], straight[-1]]
    corner = [*straight, (35.01, straight[-1][1])]
    assert straight[-1] in simplify(corner, 1.0)
    assert simplify(straight[:2], 1.0) == straight[:2]
