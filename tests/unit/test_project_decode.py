"""The projectors' fast decoder against confluent-kafka's own serializer, with no servers: a
registry stub hands out the schema by id, as the real registry does over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka.schema_registry import RegisteredSchema, Schema
from confluent_kafka.serialization import MessageField, SerializationContext

from transitstream.config import load_settings
from transitstream.project.batch import DeadLetter
from transitstream.project.source import Decoder, decode
from transitstream.project.tables import ETAS
from transitstream.schemas import load
from transitstream.wire import WireFormatError, encode, parse_schema

SCHEMA_ID = 11
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


class Registry:
    """What the Decoder asks of a SchemaRegistryClient: a schema by id (and counts the asks)."""

    def __init__(self, text: str) -> None:
        self.text, self.asked = text, 0

    def get_schema(self, schema_id: int, *_: Any, **__: Any) -> Schema:
        self.asked += 1
        if schema_id != SCHEMA_ID:
            raise LookupError(schema_id)
        return Schema(self.text, "AVRO")

    def lookup_schema(self, *_: Any, **__: Any) -> RegisteredSchema:  # not used by the fast path
        raise NotImplementedError


@pytest.fixture(scope="module")
def text() -> str:
    settings = load_settings()
    return load(settings, "stop.eta.v1")


def ctx() -> SerializationContext:
    return SerializationContext("stop.eta.v1", MessageField.VALUE)


def test_a_record_decodes_to_what_was_written_and_the_schema_is_fetched_once(text: str) -> None:
    registry = Registry(text)
    decoder = Decoder(registry)  # type: ignore[arg-type]
    raw = encode(SCHEMA_ID, parse_schema(text), ETA)
    assert decoder(raw, ctx()) == ETA
    assert decoder(raw, ctx()) == ETA
    assert registry.asked == 1


def test_bytes_left_after_the_record_are_not_that_schema(text: str) -> None:
    decoder = Decoder(Registry(text))  # type: ignore[arg-type]
    raw = encode(SCHEMA_ID, parse_schema(text), ETA) + b"\x00\x01"
    with pytest.raises(WireFormatError, match="2 byte\\(s\\) left after the record"):
        decoder(raw, ctx())


def test_a_truncated_body_becomes_a_dead_letter_with_its_bytes(text: str) -> None:
    decoder = Decoder(Registry(text))  # type: ignore[arg-type]
    raw = encode(SCHEMA_ID, parse_schema(text), ETA)[:-3]

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

    value, letter = decode(decoder, Msg(), ETAS)  # type: ignore[arg-type]
    assert value is None
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "decode" and letter.value == raw and letter.offset == 42
    assert "does not decode with schema id 11" in letter.error
