"""Confluent's Avro wire format in Spark: a column decoded by each record's writer schema id.

Every value on our topics is magic byte 0, a 4-byte big-endian schema id, then the Avro body
written with that schema (`transitstream.wire`). Spark's own `from_avro` takes one fixed schema
and knows nothing of the header, so a producer that moves to a newer schema version would be
misread. Here each record is decoded with *its* writer schema (fetched from the registry by id,
parsed once per Python worker) and resolved to the reader schema the job was written against.

A record that cannot be decoded is never dropped and never fails the batch: it comes out with
null fields and a `decode_error` saying why, so a job can route it to a dead-letter topic with its
raw bytes. Only an unreachable registry raises: that is an outage, not bad data, and retrying the
batch later is right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import pandas as pd
from fastavro.types import Schema as ParsedSchema
from pyspark.sql import Column
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import (
    BinaryType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from transitstream.wire import WriterLookup, decode, parse_schema, registry_lookup

SCHEMA_ID = "schema_id"
DECODE_ERROR = "decode_error"
TIMESTAMP_TYPES = frozenset({"timestamp-millis", "timestamp-micros"})


def _fields(reader: ParsedSchema) -> list[dict[str, Any]]:
    if not isinstance(reader, dict) or reader.get("type") != "record":
        raise TypeError("the reader schema must be an Avro record")
    return list(reader["fields"])


def field_names(reader: ParsedSchema) -> list[str]:
    return [f["name"] for f in _fields(reader)]


def _non_null(avro_type: Any) -> Any:
    """The one non-null branch of an optional field's union."""
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        if len(branches) != 1:
            raise TypeError(f"only [null, T] unions map to a Spark column, not {avro_type}")
        return branches[0]
    return avro_type


def _is_timestamp(avro_type: Any) -> bool:
    t = _non_null(avro_type)
    return isinstance(t, dict) and t.get("logicalType") in TIMESTAMP_TYPES


def decode_values(
    values: Iterable[bytes | None], writer_for: WriterLookup, reader: ParsedSchema
) -> pd.DataFrame:
    """A batch of values as one frame: the reader's fields, `schema_id` and `decode_error`.

    Pure pandas, so the Spark UDF is a thin shell around something testable without a JVM.
    Timestamps come out tz-aware UTC; a bad record is a row of nulls with its error set.
    """
    fields = _fields(reader)
    names = [f["name"] for f in fields]
    columns: dict[str, list[Any]] = {n: [] for n in [*names, SCHEMA_ID, DECODE_ERROR]}
    for value in values:
        done = decode(value, writer_for, reader)
        record = done.record or {}
        for name in names:
            columns[name].append(record.get(name))
        columns[SCHEMA_ID].append(done.schema_id)
        columns[DECODE_ERROR].append(done.error)
    frame = {}
    for f in fields:
        column = columns[f["name"]]
        if _is_timestamp(f["type"]):
            frame[f["name"]] = pd.to_datetime(pd.Series(column, dtype=object), utc=True)
        else:  # object keeps None as None and ints as ints; Arrow casts to the Spark type
            frame[f["name"]] = pd.Series(column, dtype=object)
    frame[SCHEMA_ID] = pd.Series(columns[SCHEMA_ID], dtype=object)
    frame[DECODE_ERROR] = pd.Series(columns[DECODE_ERROR], dtype=object)
    return pd.DataFrame(frame, columns=[*names, SCHEMA_ID, DECODE_ERROR])


PRIMITIVES: dict[str, DataType] = {
    "string": StringType(),
    "double": DoubleType(),
    "float": FloatType(),
    "long": LongType(),
    "int": IntegerType(),
    "boolean": BooleanType(),
    "bytes": BinaryType(),
}


def spark_type(avro_type: Any) -> DataType:
    """The Spark type of a flat Avro field (primitives, enums, dates, timestamps, [null, T])."""
    t = _non_null(avro_type)
    if isinstance(t, dict):
        logical = t.get("logicalType")
        if logical in TIMESTAMP_TYPES:
            return TimestampType()
        if logical == "date":
            return DateType()
        if t.get("type") == "enum":
            return StringType()
        t = t.get("type")
    if isinstance(t, str) and t in PRIMITIVES:
        return PRIMITIVES[t]
    raise TypeError(f"Avro type {avro_type!r} has no flat Spark column here")


def spark_schema(reader: ParsedSchema) -> StructType:
    """The decoded struct: every reader field (nullable: a failed record has none), then
    `schema_id` and `decode_error`."""
    fields = [StructField(f["name"], spark_type(f["type"]), True) for f in _fields(reader)]
    fields += [StructField(SCHEMA_ID, LongType(), True), StructField(DECODE_ERROR, StringType())]
    return StructType(fields)


@lru_cache(maxsize=16)
def _parsed_reader(text: str) -> ParsedSchema:
    return parse_schema(text)


def decode_column(value: Column | str, registry_conf: Mapping[str, str], reader: str) -> Column:
    """A struct column (see `spark_schema`) decoding the wire-format `value` column.

    `reader` is the .avsc text the job was written against; `registry_conf` is confluent-kafka's
    SchemaRegistryClient config. Both are plain strings so the UDF ships to executors as is;
    each Python worker builds its own client and caches the schemas it meets.
    """
    return_type = spark_schema(_parsed_reader(reader))
    conf = dict(registry_conf)

    def decode_batch(values: pd.Series) -> pd.DataFrame:
        return decode_values(values, registry_lookup(conf), _parsed_reader(reader))

    udf = pandas_udf(decode_batch, return_type)  # type: ignore[call-overload]
    # Marked nondeterministic only so the optimizer never copies it: a filter on a decoded field
    # would otherwise be pushed below the projection and decode every record twice.
    return udf.asNondeterministic()(value)
