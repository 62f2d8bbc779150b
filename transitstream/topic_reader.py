"""Read a topic from the beginning to its current end, as a `read_committed` consumer sees it.

For checks, notebooks and tests: "what is in the log right now?". Aborted transactions are
invisible here, exactly as they are to the pipeline's consumers.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from transitstream.config import Settings


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: Any


def read_topic(
    settings: Settings, topic: str, avro: bool = True, timeout_s: float = 60.0
) -> list[Record]:
    """Every committed record of `topic`, up to where each partition ends when it is reached."""
    consumer = Consumer(
        settings.kafka_config(
            **{
                "group.id": f"transitstream-reader-{uuid.uuid4().hex[:8]}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,  # the end is where a read_committed reader stops
            }
        )
    )
    decode = AvroDeserializer(SchemaRegistryClient(settings.registry_config())) if avro else None
    ctx = SerializationContext(topic, MessageField.VALUE)
    out: list[Record] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        pending = set(partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                    continue
                raise KafkaException(error)
            raw = msg.value()
            value = decode(raw, ctx) if decode and raw is not None else raw
            out.append(Record(msg.partition() or 0, msg.offset() or 0, msg.key(), value))
        if pending:
            raise TimeoutError(f"{topic}: partitions {sorted(pending)} not read to the end in time")
    finally:
        consumer.close()
    return out


def end_offsets(settings: Settings, *topics: str) -> dict[tuple[str, int], int]:
    """(topic, partition) -> its end offset now (high watermark), one consumer for them all."""
    consumer = Consumer(
        settings.kafka_config(
            **{"group.id": "transitstream-ends", "isolation.level": "read_committed"}
        )
    )
    try:
        ends = {}
        for topic in topics:
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                tp = TopicPartition(topic, p)
                ends[(topic, p)] = consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
        return ends
    finally:
        consumer.close()
