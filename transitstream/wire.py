"""Confluent's Avro wire format, without Spark: header, encode, decode by the writer's schema id.

Every value on our topics is magic byte 0, a 4-byte big-endian schema id, then the Avro body
written with that schema (what confluent-kafka's AvroSerializer writes). The stream job encodes
its outputs with this module in its Python workers, and reads its own dead letters with it in the
driver; the projectors decode with it. The job decodes positions in the JVM (`stream.avro`), which
words its reasons with the templates below, so a dead letter says the same whichever side wrote
it (only the JVM does not notice bytes left after a record).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import fastavro
from fastavro.types import Schema as ParsedSchema

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")  # magic byte, schema id (unsigned, big-endian)
HEADER_SIZE = HEADER.size
WriterLookup = Callable[[int], ParsedSchema]

# Why a value cannot be read, worded once for the Python decoders and the Spark job's SQL
# (`stream.avro.sql_message` fills the same templates).
NO_VALUE = "no value (a tombstone or null record)"
TRUNCATED = "truncated: {} byte(s), the Confluent header alone needs {}"
BAD_MAGIC = "magic byte {}, expected {}: not Confluent Avro wire format"
BAD_BODY = "Avro body does not decode with schema id {}"
NOT_A_VERSION = "schema id {} is not a version of subject {}"


class WireFormatError(ValueError):
    """The bytes are not a Confluent wire-format value (no or wrong header)."""


class UndecodableRecord(ValueError):
    """The header is fine, the body is not a record of its schema (truncated, corrupt, or with
    bytes left after the record)."""


class UnknownSchemaId(LookupError):
    """The registry has no Avro schema under this id: the record cannot be read, ever."""


def parse_schema(text: str | Mapping[str, Any]) -> ParsedSchema:
    """An .avsc text (or its JSON) in fastavro's parsed form, ready to read and write with."""
    raw = json.loads(text) if isinstance(text, str) else dict(text)
    return fastavro.parse_schema(raw)


def header(schema_id: int) -> bytes:
    return HEADER.pack(MAGIC_BYTE, schema_id)


def parse_header(data: bytes) -> int:
    """The schema id of a wire-format value; raises WireFormatError saying what is wrong."""
    if len(data) < HEADER_SIZE:
        raise WireFormatError(TRUNCATED.format(len(data), HEADER_SIZE))
    magic, schema_id = HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise WireFormatError(BAD_MAGIC.format(f"{magic & 0xFF:#04x}", f"{MAGIC_BYTE:#04x}"))
    return int(schema_id)


def encode(schema_id: int, schema: ParsedSchema, record: Mapping[str, Any]) -> bytes:
    """One record as wire-format bytes, as confluent-kafka's AvroSerializer would write them.

    `schema_id` must be the id the registry gave `schema`: the pair is what readers resolve by.
    """
    buf = io.BytesIO()
    buf.write(header(schema_id))
    fastavro.schemaless_writer(buf, schema, dict(record))
    return buf.getvalue()


@dataclass(frozen=True)
class Decoded:
    record: dict[str, Any] | None
    schema_id: int | None
    error: str | None


def decode(
    data: bytes | None, writer_for: WriterLookup, reader: ParsedSchema | None = None
) -> Decoded:
    """One value decoded, or the reason it cannot be; never raises for bad bytes.

    `writer_for` may raise UnknownSchemaId (becomes the error) or anything else (propagates:
    a registry outage must fail the batch, not turn good records into dead letters). Without a
    `reader`, the record comes out as the writer wrote it.
    """
    if data is None:
        return Decoded(None, None, NO_VALUE)
    try:
        schema_id = parse_header(data)
    except WireFormatError as exc:
        return Decoded(None, None, str(exc))
    try:
        writer = writer_for(schema_id)
    except UnknownSchemaId as exc:
        return Decoded(None, schema_id, str(exc))
    buf = io.BytesIO(data)
    buf.seek(HEADER_SIZE)
    try:
        record = fastavro.schemaless_reader(buf, writer, reader)
    except Exception as exc:  # truncation, bad varint, bad UTF-8, bad union branch, resolution
        return Decoded(
            None,
            schema_id,
            f"{BAD_BODY.format(schema_id)}: {type(exc).__name__}: {exc}",
        )
    if buf.tell() != len(data):
        return Decoded(
            None,
            schema_id,
            f"{len(data) - buf.tell()} byte(s) left after the record: not written with "
            f"schema id {schema_id}",
        )
    if not isinstance(record, dict):
        return Decoded(None, schema_id, f"schema id {schema_id} is not a record schema")
    return Decoded(record, schema_id, None)
