"""The positions topic as a Spark DataFrame: Kafka source, read_committed, Avro decoded.

The same function gives a batch frame (`spark.read`: the log as it is now, for checks and
backfills) and a streaming one (`spark.readStream`: for the jobs), so a transform tested on one
runs unchanged on the other.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from transitstream.config import Settings
from transitstream.errors import TransitStreamError
from transitstream.schemas import load, subject, topic_schemas
from transitstream.stream.avro import (
    DECODE_ERROR,
    SCHEMA_ID,
    Writers,
    decode_value,
    field_names,
    subject_writers,
)
from transitstream.wire import parse_schema

KAFKA_COLUMNS = ("partition", "offset", "timestamp")
RAW_VALUE = "raw_value"


def kafka_options(settings: Settings, **extra: Any) -> dict[str, str]:
    """Spark's Kafka options from Settings, built in this one place (source and sink alike).

    Spark passes `kafka.`-prefixed keys to its Kafka clients; reads are `read_committed` so an
    aborted ingest transaction is never seen, just as the pipeline's other consumers see it.
    """
    options = {
        "kafka.bootstrap.servers": settings.kafka.bootstrap_servers,
        "kafka.isolation.level": "read_committed",
    }
    options.update({k: str(v) for k, v in extra.items()})
    return options


def read_topic(
    spark: SparkSession,
    settings: Settings,
    topic: str,
    streaming: bool,
    starting_offsets: str = "earliest",
    **options: str,
) -> DataFrame:
    """A topic's raw Kafka rows (key, value, topic, partition, offset, timestamp, ...).

    A batch read stops at each partition's end as of now; a streaming one keeps going and
    remembers where it was in its checkpoint (then `starting_offsets` only applies to its first
    run). `options` are more of Spark's Kafka source options, e.g. `maxOffsetsPerTrigger`.
    """
    options = kafka_options(settings, subscribe=topic, startingOffsets=starting_offsets, **options)
    if streaming:
        return spark.readStream.format("kafka").options(**options).load()
    options["endingOffsets"] = "latest"
    return spark.read.format("kafka").options(**options).load()


def decode_topic(
    raw: DataFrame, settings: Settings, schema_name: str, writers: Writers | None = None
) -> DataFrame:
    """Kafka rows decoded against the current `schemas/<schema_name>.avsc`.

    `writers` are the schema versions records may be written with (id -> text); by default
    every version registered now under the subject of the topic that uses `schema_name`.
    Columns: the schema's fields, then partition, offset, timestamp (Kafka's), schema_id,
    decode_error (null when the record decoded), and raw_value (the bytes, for the DLQ).
    """
    reader_text = load(settings, schema_name)
    names = field_names(parse_schema(reader_text))
    by_topic = topic_schemas(settings)
    topics = [t for t, name in by_topic.items() if name == schema_name]
    if not topics:
        choices = ", ".join(sorted(by_topic.values()))
        raise TransitStreamError(f"no topic uses schema {schema_name!r}; choose one of {choices}")
    topic = topics[0]
    if writers is None:
        writers = subject_writers(settings, subject(topic))
    decoded = decode_value(
        raw.select(*KAFKA_COLUMNS, F.col("value").alias(RAW_VALUE)),
        RAW_VALUE,
        writers,
        reader_text,
        subject(topic),
    )
    return decoded.select(
        *[F.col(f"decoded.{n}").alias(n) for n in names],
        *KAFKA_COLUMNS,
        F.col(f"decoded.{SCHEMA_ID}").alias(SCHEMA_ID),
        F.col(f"decoded.{DECODE_ERROR}").alias(DECODE_ERROR),
        RAW_VALUE,
    )


def read_positions(
    spark: SparkSession,
    settings: Settings,
    streaming: bool,
    starting_offsets: str = "earliest",
    writers: Writers | None = None,
    **options: str,
) -> DataFrame:
    """Vehicle positions from `topics.position`, decoded; bad records flagged, not dropped.

    Columns: event_id, vehicle_id, trip_id, route_id, lat, lon, bearing, speed, accuracy,
    event_time, receive_time, partition, offset, timestamp, schema_id, decode_error, raw_value.
    """
    topic = settings.topics.position
    raw = read_topic(spark, settings, topic, streaming, starting_offsets, **options)
    return decode_topic(raw, settings, topic_schemas(settings)[topic], writers)
