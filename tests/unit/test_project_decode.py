"""The projectors' fast decoder against confluent-kafka's own serializer and deserializer, with
no servers: confluent-kafka's mock registry (`mock://`) hands out schemas by id in process."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from transitstream.config import load_settings
from transitstream.project.batch import DeadLetter
from transitstream.project.source import Decoder, decode
from transitstream.project.tables import ETAS
from transitstream.schemas import load
from transitstream.wire import UndecodableRecord

ETA = {
    "stop_id": "1001",
    "stop_sequence": 4,
    "vehicle_id": "bus-001",
    "trip_id": "t1",
    "route_id": "4",
    "predicted_time": datetime(2026, 12, 2, 8, 5, tzinfo=UTC),
    "prediction_time": datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
    "horizon_s": 300,
    "scheduled_time": None,
    "model": "segments-v1",
}
CTX = SerializationContext("stop.eta.v1", MessageField.VALUE)


@pytest.fixture
def registry(request: pytest.FixtureRequest) -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": f"mock://{request.node.name}"})


def written(registry: SchemaRegistryClient, value: dict[str, Any]) -> bytes:
    text = load(load_settings(), "stop.eta.v1")
    raw = AvroSerializer(registry, text)(value, CTX)  # registers it in the mock registry
    assert raw is not None
    return raw


def test_it_reads_what_the_reference_deserializer_reads_asking_the_registry_once(
    registry: SchemaRegistryClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduled = {**ETA, "scheduled_time": ETA["predicted_time"]}
    raws = [written(registry, ETA), written(registry, scheduled)]
    asked: list[int] = []
    fetch = registry.get_schema
    monkeypatch.setattr(registry, "get_schema", lambda i, *a, **k: asked.append(i) or fetch(i))
    decoder = Decoder(registry)
    decoder.fallback = None  # type: ignore[assignment]  # the fast path must not need it
    mine = [decoder(raw, CTX) for raw in raws]
    assert len(asked) == 1  # the schema id is fetched once, then parsed from the cache
    reference = AvroDeserializer(registry)
    assert mine == [reference(raw, CTX) for raw in raws] == [ETA, scheduled]


def test_bytes_left_after_the_record_are_not_that_schema(registry: SchemaRegistryClient) -> None:
    raw = written(registry, ETA) + b"\x00\x01"
    with pytest.raises(UndecodableRecord, match="2 byte\\(s\\) left after the record"):
        Decoder(registry)(raw, CTX)


def test_a_truncated_body_becomes_a_dead_letter_with_its_bytes(
    registry: SchemaRegistryClient,
) -> None:
    raw = written(registry, ETA)[:-3]

    class Msg:
        def topic(self) -> str:
            return "stop.eta.v1"

        def partition(self) -> int:
            return 0

        def offset(self) -> int:
            return 42

        def key(self) -> bytes:
            return b"1001"

        def value(self) -> bytes:
            return raw

    value, letter = decode(Decoder(registry), Msg(), ETAS)  # type: ignore[arg-type]
    assert value is None
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "decode" and letter.value == raw and letter.offset == 42
    assert letter.error.startswith("UndecodableRecord: Avro body does not decode with schema id")
