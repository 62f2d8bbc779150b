"""Every kind of bad input gets its code and a readable reason; good input becomes a record."""

from __future__ import annotations

from typing import Any

import pytest

from transitstream.config import IngestSettings
from transitstream.ingest.routes import parse
from transitstream.ingest.service import Received
from transitstream.ingest.validate import MAX_EPOCH_MS, derive_event_id, parse_ts, validate_event

NOW = 1_790_000_000_000  # 2026-09-21, epoch ms
SETTINGS = IngestSettings()
GOOD: dict[str, Any] = {"vehicle_id": "bus-1", "lat": 35.04, "lon": -85.30, "ts": NOW - 1000}


def check(item: Any) -> tuple[dict[str, Any] | None, str | None, str]:
    record, rejection = validate_event(item, NOW, SETTINGS)
    return record, rejection.code if rejection else None, rejection.reason if rejection else ""


def test_good_fix_becomes_a_record() -> None:
    item = {**GOOD, "speed": 7.5, "bearing": 90, "accuracy": 4.0, "trip_id": "t1", "route_id": "4"}
    record, code, _ = check(item)
    assert code is None and record is not None
    assert record["event_time"] == NOW - 1000 and record["receive_time"] == NOW
    assert record["speed"] == 7.5 and record["route_id"] == "4"
    assert record["event_id"] == derive_event_id("bus-1", NOW - 1000)


@pytest.mark.parametrize(
    ("change", "code", "mentions"),
    [
        ({"vehicle_id": None}, "wrong_type", "vehicle_id"),
        ({"lat": 91.0}, "out_of_range", "lat"),
        ({"lon": -180.5}, "out_of_range", "lon"),
        ({"lat": "35.0"}, "wrong_type", "lat"),
        ({"speed": -1.0}, "out_of_range", "speed"),
        ({"bearing": 360.0}, "out_of_range", "bearing"),
        ({"vehicle_id": ""}, "out_of_range", "vehicle_id"),
        ({"colour": "red"}, "unknown_field", "colour"),
        ({"ts": NOW + 10 * 60_000}, "too_far_in_future", "ahead"),
        ({"ts": NOW - 3 * 86_400_000}, "too_far_in_past", "old"),
        ({"ts": NOW // 1000}, "bad_timestamp", "seconds"),
        ({"ts": "yesterday"}, "bad_timestamp", "ISO-8601"),
        ({"ts": True}, "bad_timestamp", "boolean"),
        ({"ts": float("inf")}, "bad_timestamp", "finite"),
        ({"ts": float("-inf")}, "bad_timestamp", "finite"),
        ({"ts": float("nan")}, "bad_timestamp", "finite"),
        ({"lat": float("nan")}, "out_of_range", "lat"),
        ({"speed": float("inf")}, "out_of_range", "speed"),
        ({"lat": True}, "wrong_type", "lat"),
        ({"ts": 10**400}, "bad_timestamp", "9999"),
        ({"ts": MAX_EPOCH_MS + 1}, "bad_timestamp", "9999"),
        ({"ts": 1e300}, "bad_timestamp", "9999"),
        ({"ts": -1}, "bad_timestamp", "1970"),
        ({"ts": -(10**400)}, "bad_timestamp", "1970"),
    ],
)
def test_bad_fields(change: dict[str, Any], code: str, mentions: str) -> None:
    record, got, reason = check({**GOOD, **change})
    assert record is None
    assert got == code, reason
    assert mentions in reason


@pytest.mark.parametrize("field", ["vehicle_id", "lat", "lon", "ts"])
def test_missing_required_field(field: str) -> None:
    item = {k: v for k, v in GOOD.items() if k != field}
    record, code, reason = check(item)
    assert record is None and code == "missing_field" and field in reason


@pytest.mark.parametrize(
    ("item", "kind"), [([GOOD], "array"), ("x", "string"), (5, "number"), (None, "null")]
)
def test_not_an_object(item: Any, kind: str) -> None:
    record, code, reason = check(item)
    assert record is None and code == "not_an_object" and kind in reason


def test_several_problems_are_all_named() -> None:
    _, _, reason = check({**GOOD, "lat": 100.0, "lon": 200.0})
    assert "lat" in reason and "lon" in reason


@pytest.mark.parametrize(
    "ts",
    [10**400, -(10**400), 10**4299, "9" * 10_000],
    ids=["401-digits", "minus-401-digits", "4300-digits", "10000-char-text"],
)
def test_huge_timestamps_get_a_short_reason(ts: Any) -> None:
    """1 followed by 400 zeros once passed parse_ts and overflowed the clock check (a 500)."""
    record, code, reason = check({**GOOD, "ts": ts})
    assert record is None and code == "bad_timestamp"
    assert len(reason) < 200, reason


def test_the_last_plausible_timestamp_is_only_too_far_ahead() -> None:
    assert parse_ts(MAX_EPOCH_MS) == MAX_EPOCH_MS
    _, code, reason = check({**GOOD, "ts": MAX_EPOCH_MS})
    assert code == "too_far_in_future" and "ahead" in reason


def body(raw: bytes) -> Received:
    return Received(raw, "application/json", NOW)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"ts": ' + b"1" * 4301 + b"}",  # past Python's int max-str-digits: a plain ValueError
        b"[" * 50_000 + b"]" * 50_000,  # past the recursion limit
        b"{not json",
        b"\xff\xfe",
    ],
)
def test_bodies_the_parser_cannot_take_are_not_json(raw: bytes) -> None:
    item, rejection = parse(body(raw))
    assert item is None and rejection is not None and rejection.code == "not_json"
    assert len(rejection.reason) < 200, rejection.reason


def test_a_long_but_parseable_number_is_json() -> None:
    item, rejection = parse(body(b'{"ts": ' + b"1" * 4300 + b"}"))
    assert rejection is None and item == {"ts": int("1" * 4300)}


def test_iso_timestamps() -> None:
    assert parse_ts("2026-11-25T12:00:00Z") == parse_ts("2026-11-25T07:00:00-05:00")
    assert parse_ts("2026-11-25T12:00:00") == parse_ts("2026-11-25T12:00:00+00:00")
    assert parse_ts(1_790_000_000_123) == 1_790_000_000_123


def test_event_ids_are_deterministic_and_distinct() -> None:
    assert derive_event_id("bus-1", NOW) == derive_event_id("bus-1", NOW)
    assert derive_event_id("bus-1", NOW) != derive_event_id("bus-1", NOW + 1)
    assert derive_event_id("bus-1", NOW) != derive_event_id("bus-2", NOW)
    given = {**GOOD, "event_id": "device-chosen-id"}
    record, _, _ = check(given)
    assert record is not None and record["event_id"] == "device-chosen-id"
