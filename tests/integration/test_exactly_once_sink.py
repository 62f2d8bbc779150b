"""The exactly-once sink against real Kafka, without Spark: replays are skipped, a crash in the
middle of a batch leaves nothing visible, and a reset checkpoint starts its batch ids afresh."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from transitstream.config import Settings
from transitstream.stream.sink import ExactlyOnceSink, TopicRecords, last_committed
from transitstream.topic_reader import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(stack: Settings) -> str:
    name = f"scratch.sink.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(stack.kafka_config())
    for fut in admin.create_topics([NewTopic(name, 2, 1)]).values():
        fut.result()
    return name


def checkpoint(tmp_path: Path, query_id: str) -> Path:
    folder = tmp_path / query_id
    folder.mkdir()
    (folder / "metadata").write_text(json.dumps({"id": query_id}))
    return folder


def records(topic: str, batch: int, n: int) -> list[TopicRecords]:
    keys = [f"k{i}".encode() for i in range(n)]
    return [TopicRecords(topic, keys, [f"b{batch}-{i}".encode() for i in range(n)])]


def values(settings: Settings, topic: str) -> list[bytes]:
    return sorted(r.value for r in read_topic(settings, topic, avro=False))


def test_a_replayed_batch_is_written_once(stack: Settings, topic: str, tmp_path: Path) -> None:
    query = f"q-{uuid.uuid4().hex[:6]}"
    cp = checkpoint(tmp_path, "cp-1")
    sink = ExactlyOnceSink(stack, query, cp)
    assert sink.write(0, records(topic, 0, 5)) is True
    assert sink.write(1, records(topic, 1, 3)) is True
    sink.close()

    restarted = ExactlyOnceSink(stack, query, cp)  # Spark replays batch 1 after a crash
    assert restarted.write(1, records(topic, 1, 3)) is False
    assert restarted.write(2, records(topic, 2, 2)) is True
    restarted.close()

    expected = sorted(
        v for b, n in ((0, 5), (1, 3), (2, 2)) for r in records(topic, b, n) for v in r.values
    )
    assert values(stack, topic) == expected
    assert last_committed(stack, query, "cp-1") == 2
    assert last_committed(stack, query, "another-checkpoint") == -1


CRASHER = """
import json, os, sys
from confluent_kafka import Producer
from transitstream.config import load_settings
settings = load_settings()
topic, query = sys.argv[1], sys.argv[2]
p = Producer(settings.kafka_config(**{"transactional.id": f"transitstream-stream-{query}"}))
p.init_transactions(30)
p.begin_transaction()
for i in range(50):
    p.produce(topic, key=b"k", value=f"partial-{i}".encode())
p.flush(30)  # the records reach the broker, inside the open transaction
os._exit(9)  # the driver dies mid-batch: no commit, no abort
"""


def test_a_crash_mid_batch_leaves_nothing_visible(
    stack: Settings, topic: str, tmp_path: Path
) -> None:
    query = f"q-{uuid.uuid4().hex[:6]}"
    crashed = subprocess.run([sys.executable, "-c", CRASHER, topic, query], timeout=120)
    assert crashed.returncode == 9
    sink = ExactlyOnceSink(stack, query, checkpoint(tmp_path, "cp"))  # fences, aborts the rest
    assert sink.write(0, records(topic, 0, 4)) is True
    sink.close()
    got = values(stack, topic)
    assert got == sorted(v for r in records(topic, 0, 4) for v in r.values)
    assert not any(v.startswith(b"partial-") for v in got)


def test_a_reset_checkpoint_starts_afresh(stack: Settings, topic: str, tmp_path: Path) -> None:
    query = f"q-{uuid.uuid4().hex[:6]}"
    first = ExactlyOnceSink(stack, query, checkpoint(tmp_path, "old"))
    first.write(0, records(topic, 0, 2))
    first.close()
    second = ExactlyOnceSink(stack, query, checkpoint(tmp_path, "new"))
    assert second.write(0, records(topic, 7, 2)) is True  # batch 0 of a new checkpoint
    second.close()
    assert len(values(stack, topic)) == 4
