"""The ingestor over real HTTP into real Kafka: what a 202 promises, and where bad input goes."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from transitstream.config import Settings
from transitstream.ingest.validate import derive_event_id
from transitstream.topic_reader import read_topic

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def client(ingestor: Settings) -> httpx.Client:
    token = sorted(ingestor.ingest.token_set())[0]
    return httpx.Client(
        base_url=ingestor.ingest.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def fix(vehicle: str, **extra: Any) -> dict[str, Any]:
    return {"vehicle_id": vehicle, "lat": 35.04, "lon": -85.3, "ts": now_ms(), **extra}


def by_vehicle(settings: Settings, topic: str, vehicle: str) -> list[dict[str, Any]]:
    return [r.value for r in read_topic(settings, topic) if r.value["vehicle_id"] == vehicle]


def test_health_and_metrics(client: httpx.Client) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["kafka"] == "ok"
    assert health.json()["registry"] == "ok"
    metrics = client.get("/metrics").text
    assert "ingest_events_accepted_total" in metrics
    assert "ingest_produce_seconds_bucket" in metrics


def test_token_is_required(ingestor: Settings) -> None:
    url = f"{ingestor.ingest.url}/v1/positions"
    assert httpx.post(url, json=fix("bus-x")).status_code == 401
    wrong = httpx.post(url, json=fix("bus-x"), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"


def test_accepted_fix_is_in_the_topic_with_key_and_schema(
    client: httpx.Client, ingestor: Settings
) -> None:
    vehicle = f"bus-{uuid.uuid4().hex[:8]}"
    sent = fix(vehicle, speed=8.0, bearing=45.0, trip_id="t1", route_id="4")
    response = client.post("/v1/positions", json=sent)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "rejected": 0, "errors": []}
    records = read_topic(ingestor, ingestor.topics.position)
    mine = [r for r in records if r.value["vehicle_id"] == vehicle]
    assert len(mine) == 1
    assert mine[0].key == vehicle.encode()
    value = mine[0].value
    assert value["event_id"] == derive_event_id(vehicle, sent["ts"])
    assert value["speed"] == 8.0 and value["route_id"] == "4"
    assert int(value["event_time"].timestamp() * 1000) == sent["ts"]
    subjects = httpx.get(f"{ingestor.registry.url}/subjects").json()
    assert f"{ingestor.topics.position}-value" in subjects
    assert f"{ingestor.topics.position_dlq}-value" in subjects


def test_batch_mixes_good_and_bad_in_one_transaction(
    client: httpx.Client, ingestor: Settings
) -> None:
    vehicle = f"bus-{uuid.uuid4().hex[:8]}"
    batch = [
        fix(vehicle),
        fix(vehicle, lat=123.0),
        {"vehicle_id": vehicle, "lat": 35.0, "lon": -85.0},
        fix(vehicle, colour="red"),
        fix(vehicle, ts=now_ms() + 3_600_000),
        "not an object",
        fix(vehicle, ts=now_ms() + 1),
    ]
    response = client.post("/v1/positions/batch", json=batch)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 2 and body["rejected"] == 5
    assert [e["index"] for e in body["errors"]] == [1, 2, 3, 4, 5]
    assert [e["code"] for e in body["errors"]] == [
        "out_of_range", "missing_field", "unknown_field", "too_far_in_future", "not_an_object",
    ]  # fmt: skip
    assert len(by_vehicle(ingestor, ingestor.topics.position, vehicle)) == 2
    dlq = read_topic(ingestor, ingestor.topics.position_dlq)
    mine = {r.value["batch_index"]: r.value for r in dlq if r.value["vehicle_id"] == vehicle}
    assert set(mine) == {1, 2, 3, 4}  # index 5 has no vehicle to name
    assert json.loads(mine[1]["raw"]) == batch[1]
    assert "lat" in mine[1]["reason"] and mine[1]["source"] == "ingest"
    assert any(r.value["raw"] == b'"not an object"' for r in dlq)


def test_body_that_is_not_json_is_kept_whole(client: httpx.Client, ingestor: Settings) -> None:
    body = f"garbage-{uuid.uuid4().hex}".encode()
    response = client.post(
        "/v1/positions/batch", content=body, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "not_json"
    dlq = [r.value for r in read_topic(ingestor, ingestor.topics.position_dlq)]
    kept = [v for v in dlq if v["raw"] == body]
    assert len(kept) == 1 and kept[0]["content_type"] == "text/plain"
    assert kept[0]["error_code"] == "not_json"


def test_single_bad_fix_is_422_and_kept(client: httpx.Client, ingestor: Settings) -> None:
    vehicle = f"bus-{uuid.uuid4().hex[:8]}"
    response = client.post("/v1/positions", json=fix(vehicle, lon=500.0))
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "out_of_range"
    assert len(by_vehicle(ingestor, ingestor.topics.position_dlq, vehicle)) == 1


def test_limits(client: httpx.Client, ingestor: Settings) -> None:
    too_many = [fix("bus-many")] * (ingestor.ingest.max_batch + 1)
    assert client.post("/v1/positions/batch", json=too_many).status_code == 413
    huge = b"[" + b" " * ingestor.ingest.max_body_bytes + b"]"
    response = client.post(
        "/v1/positions/batch", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert client.post("/v1/positions/batch", json=[]).json() == {
        "accepted": 0, "rejected": 0, "errors": [],
    }  # fmt: skip


def test_retry_carries_the_same_event_id(client: httpx.Client, ingestor: Settings) -> None:
    vehicle = f"bus-{uuid.uuid4().hex[:8]}"
    sent = fix(vehicle)
    for _ in range(2):  # a device that timed out and sent again
        assert client.post("/v1/positions", json=sent).status_code == 202
    values = by_vehicle(ingestor, ingestor.topics.position, vehicle)
    assert len(values) == 2 and len({v["event_id"] for v in values}) == 1


def test_input_that_once_crashed_the_parser_is_refused_and_kept(
    client: httpx.Client, ingestor: Settings
) -> None:
    """JSON's 1e400 (infinity) as ts, and arrays nested past Python's recursion limit, were 500s
    that kept nothing; now each is a named rejection in the dead-letter topic."""
    vehicle = f"bus-{uuid.uuid4().hex[:8]}"
    body = f'[{{"vehicle_id": "{vehicle}", "lat": 35.0, "lon": -85.3, "ts": 1e400}}]'
    response = client.post(
        "/v1/positions/batch", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["errors"][0]["code"] == "bad_timestamp"
    kept = by_vehicle(ingestor, ingestor.topics.position_dlq, vehicle)
    assert len(kept) == 1 and "finite" in kept[0]["reason"]

    deep = b"[" * 50_000 + f'"{vehicle}"'.encode() + b"]" * 50_000
    response = client.post(
        "/v1/positions/batch", content=deep, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "not_json"
    dlq = [r.value for r in read_topic(ingestor, ingestor.topics.position_dlq)]
    assert sum(v["raw"] == deep for v in dlq) == 1


def test_integers_too_long_to_use_are_refused_and_kept(
    client: httpx.Client, ingestor: Settings
) -> None:
    """An integer over 4,300 digits (Python's int max-str-digits) made json.loads raise a plain
    ValueError, and a ts of 1 followed by 400 zeros overflowed the clock check: both were 500s
    that kept nothing."""
    vehicle = f"bus-{uuid.uuid4().hex[:8]}"
    huge_ts = "1" + "0" * 400
    body = f'[{{"vehicle_id": "{vehicle}", "lat": 35.0, "lon": -85.3, "ts": {huge_ts}}}]'
    response = client.post(
        "/v1/positions/batch", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 202, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "bad_timestamp" and len(error["reason"]) < 200, error
    kept = by_vehicle(ingestor, ingestor.topics.position_dlq, vehicle)
    assert len(kept) == 1 and "9999" in kept[0]["reason"]

    long = f'{{"vehicle_id": "{vehicle}", "lat": 35.0, "lon": -85.3, "ts": {"1" * 4301}}}'.encode()
    for path in ("/v1/positions", "/v1/positions/batch"):
        response = client.post(path, content=long, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["code"] == "not_json"
    dlq = [r.value for r in read_topic(ingestor, ingestor.topics.position_dlq)]
    assert sum(v["raw"] == long for v in dlq) == 2
