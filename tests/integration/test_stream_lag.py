"""The stream job's lag gauge asks the real broker for the topic's end, at scrape time."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import CollectorRegistry

from transitstream.config import Settings
from transitstream.stream.metrics import OffsetsBehind

pytestmark = pytest.mark.integration


def behind(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("stream_offsets_behind_latest", {"query": "q"})


def test_lag_is_the_topic_end_now_minus_the_last_batch_end(stack: Settings) -> None:
    topic = f"lag-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(stack.kafka_config())
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result()
    producer = Producer(stack.kafka_config())
    for i in range(10):
        producer.produce(topic, b"x", partition=i % 2)
    assert producer.flush(10) == 0
    lag = OffsetsBehind(stack)
    registry = CollectorRegistry()
    registry.register(lag)
    try:
        assert behind(registry) is None  # no batch yet: no query to report
        end = {topic: {"0": 2, "1": 5}}  # Spark writes this as a JSON string
        lag.update("q", {"sources": [{"endOffset": json.dumps(end)}]})
        assert behind(registry) == (5 - 2) + (5 - 5)
        for _ in range(4):
            producer.produce(topic, b"y", partition=1)
        assert producer.flush(10) == 0
        assert behind(registry) == 3 + 4  # more arrived since: the gauge sees it at once
    finally:
        lag.close()
