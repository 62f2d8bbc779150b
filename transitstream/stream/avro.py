"""Confluent's Avro wire format in Spark: a column decoded in the JVM by each record's schema id.

Every value on our topics is magic byte 0, a 4-byte big-endian schema id, then the Avro body
written with that schema (`transitstream.wire`). Spark's `from_avro` takes one fixed writer
schema and knows nothing of the header, so a producer that moves to a newer schema version would
be misread. Here the header is parsed in SQL and each record goes through the `from_avro` of
*its* writer schema (every version of the subject, fetched from the registry when the query is
built), resolved to the reader schema the job was written against (`avroSchema`).

Why in the JVM: a Python UDF costs every micro-batch one Python task per Kafka partition, even an
empty one, plus a pass through Arrow (measured here: a 4-partition query took 0.08 s without a UDF
and 0.2-0.4 s with one, rows or none); this costs none.

A record that cannot be decoded is never dropped and never fails the batch: it comes out with
null fields and a `decode_error` saying why, so a job can route it to a dead-letter topic with its
raw bytes. A schema id that is not a version of the subject *yet* (registered after the query
was built) is the one case the job must re-plan for: see `stream.jobs.BatchWriter`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from confluent_kafka.schema_registry.error import SchemaRegistryError
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from transitstream import schemas
from transitstream.config import Settings
from transitstream.wire import (
    BAD_BODY,
    BAD_MAGIC,
    HEADER_SIZE,
    MAGIC_BYTE,
    NO_VALUE,
    NOT_A_VERSION,
    TRUNCATED,
    WireFormatError,
    decode,
    parse_header,
    parse_schema,
)

SCHEMA_ID = "schema_id"
DECODE_ERROR = "decode_error"
Writers = Mapping[int, str]  # schema id -> writer schema text (every version of a subject)


def required_fields(reader_text: str) -> list[str]:
    """Fields a record always has (not a `[null, T]` union): `from_avro`'s permissive mode gives
    a struct of nulls for a body it cannot read, and this is how that is told from a record."""
    fields: list[dict[str, Any]] = json.loads(reader_text)["fields"]
    return [f["name"] for f in fields if not (isinstance(f["type"], list) and "null" in f["type"])]


def subject_writers(settings: Settings, subject: str) -> dict[int, str]:
    """Every Avro version of `subject` in the registry: schema id -> schema text."""
    client = schemas.registry_client(settings)
    writers: dict[int, str] = {}
    try:
        versions = client.get_versions(subject)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:  # nothing registered yet: no record can be read
            return writers
        raise
    for version in versions:
        registered = client.get_version(subject, version)
        schema, schema_id = registered.schema, registered.schema_id
        if (schema.schema_type or "AVRO") == "AVRO" and schema.schema_str and schema_id is not None:
            writers[schema_id] = schema.schema_str
    return writers


def sql_message(template: str, *columns: Column) -> Column:
    """A `transitstream.wire` message template ('{}' placeholders) filled in SQL, so the JVM
    path and the Python decoders word every reason the same way."""
    return F.format_string(template.replace("{}", "%s"), *columns)


def decode_value(
    raw: DataFrame, value: str, writers: Writers, reader_text: str, subject: str
) -> DataFrame:
    """`raw` decoded: every reader field, `raw`'s other columns, `schema_id`, `decode_error`, and
    the wire-format column `value` last, each record read with the writer schema its header
    names. Built in steps, so each record goes through `from_avro` once (Spark does not merge a
    projection into the next when that would copy an expensive expression)."""
    v = F.col(value)
    size = F.length(v)
    step = raw.withColumns(
        {
            "_magic": F.lower(F.hex(F.substring(v, 1, 1))),
            "_id": F.conv(F.hex(F.substring(v, 2, 4)), 16, 10).cast("bigint"),
        }
    )
    schema_id, magic = F.col("_id"), F.col("_magic")
    body = v.substr(F.lit(HEADER_SIZE + 1), size - HEADER_SIZE)
    options = {"mode": "PERMISSIVE", "avroSchema": reader_text}
    # a typed null of the reader's struct for ids without a writer (and for no writers at all)
    avro: Column = from_avro(F.lit(None).cast("binary"), reader_text, options)
    for sid, text in sorted(writers.items()):
        avro = F.when(schema_id == sid, from_avro(body, text, options)).otherwise(avro)
    step = step.withColumn("_avro", avro)

    readable = F.col("_avro").isNotNull()
    for name in required_fields(reader_text):
        readable = readable & F.col("_avro").getField(name).isNotNull()
    zero = f"{MAGIC_BYTE:02x}"
    error = (
        F.when(v.isNull(), F.lit(NO_VALUE))
        .when(size < HEADER_SIZE, sql_message(TRUNCATED, size, F.lit(HEADER_SIZE)))
        .when(
            magic != zero,
            sql_message(BAD_MAGIC, F.concat(F.lit("0x"), magic), F.lit(f"{MAGIC_BYTE:#04x}")),
        )
        .when(~schema_id.isin(list(writers)), sql_message(NOT_A_VERSION, schema_id, F.lit(subject)))
        .when(~readable, sql_message(BAD_BODY, schema_id))
    )
    step = step.withColumn(DECODE_ERROR, error)
    names = [f["name"] for f in json.loads(reader_text)["fields"]]
    ok = F.col(DECODE_ERROR).isNull()
    return step.select(
        *[F.when(ok, F.col("_avro").getField(n)).alias(n) for n in names],
        *[c for c in raw.columns if c != value],
        F.when(v.isNotNull() & (size >= HEADER_SIZE) & (magic == zero), schema_id).alias(SCHEMA_ID),
        DECODE_ERROR,
        value,
    )


def unplanned_writer_ids(
    dead_letters: list[bytes], dlq_schema_text: str, known: Writers
) -> set[int]:
    """Schema ids that dead letters of a batch were written with, and the query's plan had no
    writer for: wire-format values whose id is not among `known`. The driver asks the registry
    about them (`BatchWriter`): an id registered since the plan was built means re-plan and
    replay the batch, not dead-letter good records."""
    dlq = parse_schema(dlq_schema_text)
    ids: set[int] = set()
    for value in dead_letters:
        letter = decode(value, lambda _id: dlq).record or {}
        try:
            schema_id = parse_header(letter.get("raw") or b"")
        except WireFormatError:
            continue
        if schema_id not in known:
            ids.add(schema_id)
    return ids
