"""Spark reads what the ingestor wrote, batch and streaming; bad bytes come out flagged."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from transitstream.config import Settings
from transitstream.errors import InfraError
from transitstream.infra.java import spark_jars
from transitstream.schemas import load, register_all, registry_client, subject
from transitstream.stream.session import checkpoint_dir, shuffle_partitions, spark_session
from transitstream.stream.source import decode_topic, read_positions, read_topic
from transitstream.topic_reader import read_topic as read_committed
from transitstream.wire import encode, header, parse_header, parse_schema

pytestmark = pytest.mark.integration

POSITION_SCHEMA = "vehicle.position.v1"
SPARK_RSS_BUDGET = 1536 * 2**20  # a 1 GB driver heap, the JVM beside it, two Python workers
SPARK_SUBMIT = "org.apache.spark.deploy.SparkSubmit"
FIELDS = [
    "event_id", "vehicle_id", "trip_id", "route_id", "lat", "lon", "bearing", "speed", "accuracy",
]  # fmt: skip


@pytest.fixture(scope="module")
def spark(stack: Settings) -> Iterator[SparkSession]:
    session = spark_session(stack, "test-spark-source")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def posted(ingestor: Settings) -> tuple[str, dict[str, dict[str, Any]]]:
    """A known batch through the real ingestor; what the log holds for it, by event_id."""
    vehicle = f"bus-spark-{uuid.uuid4().hex[:8]}"
    now = int(time.time() * 1000) - 60_000
    batch = [
        {"vehicle_id": vehicle, "lat": 35.0 + i / 1000, "lon": -85.3, "ts": now + i * 1000}
        | ({"speed": 4.5 + i, "bearing": 90.0, "trip_id": "t-9", "route_id": "4"} if i % 2 else {})
        for i in range(6)
    ]
    token = sorted(ingestor.ingest.token_set())[0]
    response = httpx.post(
        f"{ingestor.ingest.url}/v1/positions/batch",
        json=batch,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == len(batch)
    records = read_committed(ingestor, ingestor.topics.position)
    mine = {r.value["event_id"]: as_row(r.value, r.partition, r.offset) for r in records
            if r.value["vehicle_id"] == vehicle}  # fmt: skip
    assert len(mine) == len(batch)
    return vehicle, mine


def test_session_is_sized_and_zoned_from_settings(spark: SparkSession, stack: Settings) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.master") == stack.spark.master
    assert conf.get("spark.driver.memory") == stack.spark.driver_memory
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.shuffle.partitions") == str(shuffle_partitions(stack.spark))
    assert spark.conf.get("spark.sql.streaming.checkpointLocation", None) is None
    jars = (conf.get("spark.jars") or "").split(",")
    assert jars == [str(j) for j in spark_jars(stack)]
    assert all(Path(j).parent == stack.jars_dir / "spark" for j in jars)


def test_missing_connector_says_run_make_setup(stack: Settings, tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="make setup"):
        spark_jars(stack.model_copy(update={"jars_dir": tmp_path}))


def as_row(value: dict[str, Any], partition: int, offset: int) -> dict[str, Any]:
    row = {k: value[k] for k in FIELDS}
    row |= {
        "event_ms": int(value["event_time"].timestamp() * 1000),
        "receive_ms": int(value["receive_time"].timestamp() * 1000),
        "partition": partition,
        "offset": offset,
    }
    return row


def spark_rows(frame: DataFrame) -> dict[str, dict[str, Any]]:
    """Rows keyed by event_id, timestamps as epoch ms (collect() would use the local zone)."""
    rows = frame.select(
        *FIELDS,
        F.unix_millis("event_time").alias("event_ms"),
        F.unix_millis("receive_time").alias("receive_ms"),
        "partition",
        "offset",
    ).collect()
    return {r["event_id"]: r.asDict() for r in rows}


def test_batch_read_decodes_exactly_what_was_ingested(
    spark: SparkSession, ingestor: Settings, posted: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    vehicle, expected = posted
    positions = read_positions(spark, ingestor, streaming=False).cache()
    try:
        mine = positions.where(F.col("vehicle_id") == vehicle)
        assert spark_rows(mine) == expected
        registered = registry_client(ingestor).get_latest_version(subject(ingestor.topics.position))
        checks = mine.select("schema_id", "decode_error", "raw_value", "timestamp").collect()
        assert {r["schema_id"] for r in checks} == {registered.schema_id}
        assert all(r["decode_error"] is None and r["timestamp"] is not None for r in checks)
        assert all(parse_header(r["raw_value"]) == registered.schema_id for r in checks)
        # everything the ingestor ever wrote decodes: no test writes garbage to this topic
        assert positions.where(F.col("decode_error").isNotNull()).count() == 0
    finally:
        positions.unpersist()


def test_streaming_available_now_sees_the_same_events(
    spark: SparkSession, ingestor: Settings, posted: tuple[str, dict[str, dict[str, Any]]]
) -> None:
    vehicle, expected = posted
    name = f"test_positions_{uuid.uuid4().hex[:8]}"
    checkpoint = checkpoint_dir(ingestor, name)
    assert checkpoint.parent == ingestor.spark.checkpoint_root
    stream = read_positions(spark, ingestor, streaming=True).where(F.col("vehicle_id") == vehicle)
    query = (
        stream.writeStream.format("memory")
        .queryName(name)
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    try:
        assert query.awaitTermination(120), "availableNow query did not finish"
        assert query.exception() is None
        assert spark_rows(spark.table(name)) == expected
        assert (checkpoint / "offsets").is_dir() and (checkpoint / "commits").is_dir()
    finally:
        query.stop()
        spark.catalog.dropTempView(name)
        shutil.rmtree(checkpoint, ignore_errors=True)


@pytest.fixture
def scratch_topic(stack: Settings) -> Iterator[str]:
    """A throwaway topic, so garbage never reaches the topics other tests read."""
    admin = AdminClient(stack.kafka_config())
    topic = f"test.spark.scratch.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    yield topic
    admin.delete_topics([topic])[topic].result(timeout=30)


def test_bad_records_come_out_flagged_not_dropped(
    spark: SparkSession, stack: Settings, scratch_topic: str
) -> None:
    client = registry_client(stack)
    register_all(client, stack)  # as the ingestor and the job do at start
    registered = client.get_latest_version(subject(stack.topics.position))
    good = {
        "event_id": "scratch-1", "vehicle_id": "bus-scratch", "trip_id": None, "route_id": None,
        "lat": 35.0, "lon": -85.3, "bearing": None, "speed": None, "accuracy": None,
        "event_time": 1_764_000_000_000, "receive_time": 1_764_000_001_000,
    }  # fmt: skip
    body = encode(registered.schema_id, parse_schema(load(stack, POSITION_SCHEMA)), good)
    bad_body = header(registered.schema_id) + b"\x81"  # a varint that never ends
    values = [body, b"not avro at all", header(999_999) + body[5:], b"\x00\x00", bad_body]
    failures: list[KafkaError] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err)

    producer = Producer(stack.kafka_config(**{"enable.idempotence": True}))
    try:
        for value in values:
            producer.produce(scratch_topic, value=value, on_delivery=delivered)
            producer.poll(0)
    finally:
        assert producer.flush(30) == 0
    assert not failures

    raw = read_topic(spark, stack, scratch_topic, streaming=False)
    rows = decode_topic(raw, stack, stack.topics.position).orderBy("offset").collect()
    assert [r["raw_value"] for r in rows] == values
    ok, garbage, unknown, truncated, unreadable = rows
    assert ok["decode_error"] is None and ok["event_id"] == "scratch-1"
    assert ok["schema_id"] == registered.schema_id and ok["lat"] == 35.0
    assert garbage["decode_error"].startswith("magic byte 0x6e")
    assert garbage["event_id"] is None and garbage["schema_id"] is None
    assert unknown["decode_error"] == (
        f"schema id 999999 is not a version of subject {subject(stack.topics.position)}"
    )
    assert unknown["schema_id"] == 999_999
    # decoded in the JVM, worded as the Python decoders word it (`transitstream.wire`)
    assert truncated["decode_error"] == "truncated: 2 byte(s), the Confluent header alone needs 5"
    assert unreadable["decode_error"] == (
        f"Avro body does not decode with schema id {registered.schema_id}"
    )
    assert unreadable["event_id"] is None and unreadable["lat"] is None
    assert sum(r["decode_error"] is not None for r in rows) == 4


def test_spark_memory_stays_in_budget(spark: SparkSession) -> None:
    """Local mode: the driver JVM is all of Spark, plus the Python workers it forks."""
    drivers = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.name().startswith("java") and SPARK_SUBMIT in " ".join(p.cmdline())
    ]  # the stack's Kafka may be a child of this process too: not counted
    assert len(drivers) == 1, "no Spark driver JVM under this process"
    driver = drivers[0].memory_info().rss
    workers = sum(w.memory_info().rss for w in drivers[0].children(recursive=True))
    print(f"Spark driver RSS {driver / 2**20:.0f} MiB, Python workers {workers / 2**20:.0f} MiB")
    assert driver + workers < SPARK_RSS_BUDGET
