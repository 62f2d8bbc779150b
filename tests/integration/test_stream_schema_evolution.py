"""A new version of the positions' schema, registered while the stream job runs, is read by it.

The job decodes positions in the JVM with the writer schemas registered when its query was
planned (`stream.avro`). A record written with a version registered later must not become a
dead letter: the batch fails unwritten, the job re-plans with the new version, and Spark
replays the batch. Runs on the session stack, on topics of its own.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import Schema

from transitstream.config import Settings
from transitstream.gtfs import load_feed
from transitstream.infra.topics import declared_topics, ensure_topics
from transitstream.schemas import load, register_all, registry_client, subject
from transitstream.stream.run import JobResult, run_job
from transitstream.topic_reader import read_topic
from transitstream.wire import encode, parse_schema

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OWN_TOPICS = ("position", "position_dlq", "enriched", "eta", "anomaly", "stream_commits")


def own_topics(stack: Settings, tmp_path: Path) -> Settings:
    tag = uuid.uuid4().hex[:8]
    topics = stack.topics.model_copy(
        update={name: f"test.evolve.{tag}.{name}" for name in OWN_TOPICS}
    )
    spark = stack.spark.model_copy(update={"checkpoint_root": tmp_path / "checkpoints"})
    s = stack.model_copy(update={"topics": topics, "spark": spark})
    report = ensure_topics(AdminClient(s.kafka_config()), declared_topics(s))
    assert s.topics.position in report.created
    return s


def fix_at_a_stop(stack: Settings, vehicle: str, event_id: str) -> dict[str, Any]:
    """A position at the second stop of a real trip, now: the job map-matches and enriches it."""
    feed = load_feed(stack.gtfs_path)
    trip_id, stop_times = next(iter(feed.stop_times.items()))
    stop = feed.stops[stop_times[1].stop_id]
    now = int(time.time() * 1000)
    return {
        "event_id": event_id, "vehicle_id": vehicle, "trip_id": trip_id,
        "route_id": feed.trips[trip_id].route_id, "lat": stop.lat, "lon": stop.lon,
        "bearing": None, "speed": 5.0, "accuracy": None, "event_time": now, "receive_time": now,
    }  # fmt: skip


def wait_for_event(s: Settings, topic: str, event_id: str, timeout_s: float = 120) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(r.value["event_id"] == event_id for r in read_topic(s, topic)):
            return True
        time.sleep(2)
    return False


def test_a_version_registered_mid_run_is_read_not_dead_lettered(
    stack: Settings, tmp_path: Path
) -> None:
    s = own_topics(stack, tmp_path)
    client = registry_client(s)
    position_subject = subject(s.topics.position)
    v1_text = load(s, "vehicle.position.v1")
    v1_id = register_all(client, s)[position_subject]
    producer = Producer(s.kafka_config(**{"enable.idempotence": True}))
    first = fix_at_a_stop(s, "bus-evolve-1", f"evolve-v1-{uuid.uuid4().hex[:6]}")
    producer.produce(
        s.topics.position, key=b"bus-evolve-1", value=encode(v1_id, parse_schema(v1_text), first)
    )
    assert producer.flush(30) == 0

    stop = threading.Event()
    outcome: list[JobResult | BaseException] = []

    def job() -> None:
        try:
            outcome.append(run_job(s, "all", serve_metrics=False, stop=stop, timeout_s=300))
        except BaseException as exc:  # reported by the test thread
            outcome.append(exc)

    runner = threading.Thread(target=job, daemon=True)
    runner.start()
    try:
        assert wait_for_event(s, s.topics.enriched, first["event_id"]), "v1 fix not enriched"

        # v2 adds an optional field, backward compatible; registered while the query runs
        v2 = json.loads(v1_text)
        v2["fields"].append({"name": "fix_source", "type": ["null", "string"], "default": None})
        v2_id = client.register_schema(position_subject, Schema(json.dumps(v2), "AVRO"))
        assert v2_id != v1_id
        second = fix_at_a_stop(s, "bus-evolve-2", f"evolve-v2-{uuid.uuid4().hex[:6]}")
        value = encode(v2_id, parse_schema(v2), {**second, "fix_source": "gnss"})
        producer.produce(s.topics.position, key=b"bus-evolve-2", value=value)
        assert producer.flush(30) == 0

        assert wait_for_event(s, s.topics.enriched, second["event_id"]), (
            "the v2 fix was not enriched",
            [r.value["reason"] for r in read_topic(s, s.topics.position_dlq)],
        )
        assert read_topic(s, s.topics.position_dlq) == []  # nothing dead-lettered
    finally:
        stop.set()
        runner.join(120)
    assert not runner.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], JobResult), outcome
    assert outcome[0].input_rows >= 2
