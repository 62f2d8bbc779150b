"""The Confluent wire format without Spark or servers: header, round trip, and bad bytes as data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro.types import Schema as ParsedSchema

from transitstream.config import load_settings
from transitstream.schemas import load
from transitstream.stream.avro import required_fields, unplanned_writer_ids
from transitstream.wire import (
    UnknownSchemaId,
    WireFormatError,
    decode,
    encode,
    header,
    parse_header,
    parse_schema,
)

SCHEMA_NAME = "vehicle.position.v1"
SCHEMA_ID_V1 = 7


@pytest.fixture(scope="module")
def schema_text() -> str:
    return load(load_settings(), SCHEMA_NAME)


@pytest.fixture(scope="module")
def reader(schema_text: str) -> ParsedSchema:
    return parse_schema(schema_text)


def writers(**by_id: ParsedSchema) -> Any:
    """A writer lookup over fixed schemas, as the registry would answer."""

    def writer_for(schema_id: int) -> ParsedSchema:
        try:
            return by_id[f"id{schema_id}"]
        except KeyError:
            raise UnknownSchemaId(f"schema id {schema_id} is not in the registry") from None

    return writer_for


def position(**extra: Any) -> dict[str, Any]:
    return {
        "event_id": "e-1",
        "vehicle_id": "bus-7",
        "trip_id": "t-1",
        "route_id": "4",
        "lat": 35.0456,
        "lon": -85.3097,
        "bearing": 45.5,
        "speed": 8.25,
        "accuracy": None,
        "event_time": datetime(2026, 11, 25, 14, 3, 5, 123000, tzinfo=UTC),
        "receive_time": datetime(2026, 11, 25, 14, 3, 6, tzinfo=UTC),
        **extra,
    }


def test_header_is_magic_zero_and_big_endian_id() -> None:
    assert header(1) == b"\x00\x00\x00\x00\x01"
    assert header(0x01020304) == b"\x00\x01\x02\x03\x04"
    assert parse_header(b"\x00\x00\x00\x01\x00 body") == 256
    assert parse_header(header(2**32 - 1)) == 2**32 - 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated: 0 byte(s)"),
        (b"\x00\x00\x01", "truncated: 3 byte(s)"),
        (b'{"vehicle_id": 1}', "magic byte 0x7b"),
        (b"\x01\x00\x00\x00\x07abc", "magic byte 0x01"),
        (b"\xff\x00\x00\x00\x07abc", "magic byte 0xff"),
    ],
)
def test_bad_header_is_named(data: bytes, reason: str) -> None:
    with pytest.raises(WireFormatError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_header(data)


def test_round_trip_against_the_real_schema(reader: ParsedSchema) -> None:
    record = position()
    data = encode(SCHEMA_ID_V1, reader, record)
    assert data[:5] == header(SCHEMA_ID_V1)
    done = decode(data, writers(id7=reader), reader)
    assert done.error is None and done.schema_id == SCHEMA_ID_V1
    assert done.record == record  # floats chosen exact in 32 bits; millisecond timestamps


def test_bytes_match_confluents_serializer(schema_text: str, reader: ParsedSchema) -> None:
    client = SchemaRegistryClient.new_client({"url": "mock://unit"})
    ctx = SerializationContext("vehicle.position.v1", MessageField.VALUE)
    theirs = AvroSerializer(client, schema_text)(position(), ctx)  # registers (mock registry)
    assert theirs is not None
    schema_id = parse_header(theirs)
    assert client.get_schema(schema_id).schema_type == "AVRO"
    ours = encode(schema_id, reader, position())
    assert ours == theirs
    assert AvroDeserializer(client)(ours, ctx) == position()


def test_older_writer_resolves_to_the_reader_defaults(reader: ParsedSchema) -> None:
    old = json.loads(json.dumps(reader))  # a previous version without `accuracy` and `route_id`
    old["fields"] = [f for f in old["fields"] if f["name"] not in {"accuracy", "route_id"}]
    kept = {f["name"] for f in old["fields"]}
    written = {k: v for k, v in position(accuracy=3.5).items() if k in kept}
    data = encode(3, parse_schema(old), written)
    done = decode(data, writers(id3=parse_schema(old), id7=reader), reader)
    assert done.error is None and done.schema_id == 3
    assert done.record is not None
    assert done.record["route_id"] is None and done.record["accuracy"] is None
    assert done.record["vehicle_id"] == "bus-7"


def test_bad_values_become_errors_not_exceptions(reader: ParsedSchema) -> None:
    good = encode(SCHEMA_ID_V1, reader, position())
    lookup = writers(id7=reader)
    cases = {
        "garbage": (b"not avro at all", "magic byte 0x6e"),
        "tombstone": (None, "no value"),
        "header only": (header(SCHEMA_ID_V1), "does not decode with schema id 7"),
        "truncated body": (good[:-4], "does not decode with schema id 7"),
        "trailing bytes": (good + b"\x00\x01", "2 byte(s) left after the record"),
        "unknown id": (header(99) + good[5:], "schema id 99 is not in the registry"),
    }
    for name, (data, reason) in cases.items():
        done = decode(data, lookup, reader)
        assert done.record is None, name
        assert done.error is not None and reason in done.error, (name, done.error)


def test_registry_outage_is_not_bad_data(reader: ParsedSchema) -> None:
    def unreachable(schema_id: int) -> ParsedSchema:
        raise ConnectionError("registry down")

    with pytest.raises(ConnectionError):
        decode(encode(SCHEMA_ID_V1, reader, position()), unreachable, reader)


def test_required_fields_are_the_non_optional_ones(schema_text: str) -> None:
    # how the job tells a body from_avro could not read (a struct of nulls) from a record
    assert required_fields(schema_text) == [
        "event_id", "vehicle_id", "lat", "lon", "event_time", "receive_time",
    ]  # fmt: skip


def test_dead_letters_name_the_schema_ids_the_plan_lacks(schema_text: str) -> None:
    settings = load_settings()
    dlq_text = load(settings, "vehicle.position.dlq")
    dlq = parse_schema(dlq_text)
    body = encode(SCHEMA_ID_V1, parse_schema(schema_text), position())

    def letter(raw: bytes) -> bytes:
        return encode(3, dlq, {
            "reason": "r", "error_code": "decode_error", "source": "stream", "raw": raw,
            "content_type": None, "batch_index": None, "vehicle_id": None, "receive_time": 0,
        })  # fmt: skip

    letters = [
        letter(body),  # a planned writer: its dead letter is about something else
        letter(header(8) + body[5:]),  # written with id 8, which the plan lacks
        letter(header(9) + body[5:]),
        letter(b"not avro at all"),  # no header: no id to ask about
    ]
    known = {SCHEMA_ID_V1: schema_text}
    assert unplanned_writer_ids(letters, dlq_text, known) == {8, 9}
    assert unplanned_writer_ids(letters, dlq_text, {**known, 8: "", 9: ""}) == set()
    assert unplanned_writer_ids([], dlq_text, known) == set()
