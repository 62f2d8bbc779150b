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
from transitstream.schemas import load, subject, topic_schemas
from transitstream.stream.avro import (
    Writers,
    decode_value,
    subject_writers,
)

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


def source_options(
    settings: Settings, topic: str, starting_offsets: str, **options: str
) -> dict[str, str]:
    """The Kafka source's options for `topic`: `kafka_options`, the fetch wait of
    `spark.fetch_max_wait_ms` (a consumer setting, so not in the sink's), then `options`."""
    wait = {"kafka.fetch.max.wait.ms": settings.spark.fetch_max_wait_ms}
    return kafka_options(
        settings, subscribe=topic, startingOffsets=starting_offsets, **{**wait, **options}
    )


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
    options = source_options(settings, topic, starting_offsets, **options)
    if streaming:
        return spark.readStream.format("kafka").options(**options).load()
    options["endingOffsets"] = "latest"
    return spark.read.format("kafka").options(**options).load()


def decode_topic(
    raw: DataFrame, settings: Settings, topic: str, writers: Writers | None = None
) -> DataFrame:
    """Kafka rows decoded as records of `topic`: against its current `.avsc` (the reader), with
    `writers`, the versions records may be written with (id -> text; by default every version
    registered now under the topic's subject).

    Columns: the schema's fields, then partition, offset, timestamp (Kafka's), schema_id,
    decode_error (null when the record decoded), and raw_value (the bytes, for the DLQ).
    """
    if writers is None:
        writers = subject_writers(settings, subject(topic))
    return decode_value(
        raw.select(*KAFKA_COLUMNS, F.col("value").alias(RAW_VALUE)),
        RAW_VALUE,
        writers,
        load(settings, topic_schemas(settings)[topic]),
        subject(topic),
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
    return decode_topic(raw, settings, topic, writers)
