"""Helpers of the projector tests (no tests here): scratch topics of their own, so every record a
test projects is one it produced, and records shaped like the stream job's output."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.serialization import MessageField, SerializationContext

from transitstream import schemas, topic_reader
from transitstream.config import Settings
from transitstream.db.migrate import connect
from transitstream.project.checksum import table_checksums
from transitstream.topic_reader import Record, read_topic

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def scratch(settings: Settings, partitions: int = 3) -> Settings:
    """Settings whose projector topics (and DLQ, and consumer group) are new and empty; their
    schemas registered under the new subjects."""
    tag = uuid.uuid4().hex[:8]
    topics = settings.topics.model_copy(
        update={
            "enriched": f"scratch.{tag}.vehicle.enriched.v1",
            "eta": f"scratch.{tag}.stop.eta.v1",
            "anomaly": f"scratch.{tag}.vehicle.anomaly.v1",
            "projector_dlq": f"scratch.{tag}.projector.dlq",
        }
    )
    project = settings.project.model_copy(update={"group_prefix": f"test-projector-{tag}"})
    s = settings.model_copy(update={"topics": topics, "project": project})
    admin = AdminClient(s.kafka_config())
    new = [NewTopic(t, partitions, 1) for t in (topics.enriched, topics.eta, topics.anomaly)]
    new.append(NewTopic(topics.projector_dlq, 1, 1))
    for fut in admin.create_topics(new).values():
        fut.result()
    schemas.register_all(schemas.registry_client(s), s)
    return s


def produce(settings: Settings, topic: str, values: Iterable[dict[str, Any]], key: str) -> int:
    """Avro-serialize and write `values` in one Kafka transaction (as the stream job does)."""
    client = schemas.registry_client(settings)
    serialize = schemas.serializer(client, settings, topic)
    ctx = SerializationContext(topic, MessageField.VALUE)
    return produce_raw(settings, topic, [(str(v[key]).encode(), serialize(v, ctx)) for v in values])


def produce_raw(settings: Settings, topic: str, items: list[tuple[bytes, bytes | None]]) -> int:
    p = Producer(
        settings.kafka_config(**{"transactional.id": f"test-project-{uuid.uuid4().hex[:8]}"})
    )
    p.init_transactions(30)
    p.begin_transaction()
    for k, v in items:
        p.produce(topic, key=k, value=v)
    p.commit_transaction(30)
    return len(items)


def enriched(vehicle: str, t: datetime, trip: str = "T1", next_seq: int = 1, **kw: Any) -> dict:
    return {
        "event_id": f"{vehicle}-{t.timestamp():.0f}",
        "vehicle_id": vehicle,
        "trip_id": trip,
        "route_id": "R1",
        "route_name": "10A",
        "lat": 35.0 + t.minute / 1000,
        "lon": -85.3 - t.second / 1000,
        "bearing": 90.0,
        "speed": 8.5,
        "event_time": t,
        "distance_along_m": 100.0 * next_seq,
        "offset_m": 3.25,
        "next_stop_id": f"S{next_seq}",
        "next_stop_sequence": next_seq,
        "schedule_deviation_s": 30,
        **kw,
    }


def eta(vehicle: str, seq: int, made: datetime, trip: str = "T1", ahead_s: int = 300) -> dict:
    return {
        "stop_id": f"S{seq}",
        "stop_sequence": seq,
        "vehicle_id": vehicle,
        "trip_id": trip,
        "route_id": "R1",
        "predicted_time": made + timedelta(seconds=ahead_s),
        "prediction_time": made,
        "horizon_s": ahead_s,
        "scheduled_time": made + timedelta(seconds=ahead_s - 30),
        "model": "segments-v1",
    }


def anomaly(vehicle: str, state: str, t: datetime, opened: datetime | None = None) -> dict:
    opened = opened or t
    duration = {"duration_s": str((t - opened).total_seconds())} if state == "closed" else {}
    return {
        "anomaly_id": f"{vehicle}-stall-{opened.timestamp():.0f}",
        "kind": "stalled",
        "state": state,
        "severity": "warning",
        "vehicle_id": vehicle,
        "trip_id": "T1",
        "route_id": "R1",
        "event_time": t,
        "lat": 35.0,
        "lon": -85.3,
        "evidence": {"threshold_s": "180", **duration},
    }


def end_offsets(settings: Settings, topic: str) -> dict[tuple[str, int], int]:
    """(topic, partition) -> high watermark, for the partitions holding anything."""
    return {k: v for k, v in topic_reader.end_offsets(settings, topic).items() if v > 0}


def stored_offsets(settings: Settings, *topics: str) -> dict[tuple[str, int], int]:
    query = "SELECT topic, partition, next_offset FROM projector_offsets WHERE topic = ANY(%s)"
    return {(t, p): o for t, p, o in rows(settings, query, list(topics)) if o > 0}


def checksums(settings: Settings, prefix: str) -> dict[str, tuple[int, str]]:
    with connect(settings) as conn:
        return table_checksums(conn, prefix=prefix)


def rows(settings: Settings, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with connect(settings) as conn:
        return conn.execute(query, list(params)).fetchall()


def dlq_records(settings: Settings) -> list[Record]:
    return read_topic(settings, settings.topics.projector_dlq, avro=False)
