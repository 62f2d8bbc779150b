"""Exactly-once Kafka output for Spark micro-batches (ARCHITECTURE.md section 5).

Spark's checkpoint makes a query replay a micro-batch after a crash, and the built-in Kafka
sink then writes it again: at-least-once. Here each batch is written in one Kafka transaction
that also records `(query, batch_id)` in the compacted commits topic. On start, and before
every batch, the sink knows the last batch_id committed for its query; a replayed batch at or
below it is skipped. A crashed driver's open transaction is aborted when the restarted query's
producer (same `transactional.id`) initialises, so its half-written records are never visible
to `read_committed` readers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, Producer

from transitstream.config import Settings
from transitstream.errors import TransitStreamError
from transitstream.topic_reader import read_topic

log = logging.getLogger(__name__)
NO_CHECKPOINT = "no-checkpoint"  # the id of a query that has not started yet


POLL_EVERY = 1_000  # records produced between two polls of delivery reports


@dataclass(frozen=True)
class TopicRecords:
    """Records of one topic, keys and values side by side: as a batch's Arrow columns give
    them, with no object per record (a micro-batch holds tens of thousands)."""

    topic: str
    keys: Sequence[bytes | None]
    values: Sequence[bytes]


def checkpoint_id(checkpoint_dir: Path) -> str:
    """The id Spark stores in a query's checkpoint: a new checkpoint (reset) means new ids, so
    batch ids that restart from 0 are not mistaken for replays of the old query's batches."""
    try:
        return str(json.loads((checkpoint_dir / "metadata").read_text())["id"])
    except (FileNotFoundError, KeyError, ValueError):
        return NO_CHECKPOINT


def committed_batch(key: bytes | None, value: bytes | None, query: str, checkpoint: str) -> int:
    """The batch_id a commits-topic record marks for `query` under `checkpoint`, else -1."""
    if key != query.encode() or not value:
        return -1
    marker = json.loads(value)
    return int(marker["batch_id"]) if marker.get("checkpoint") == checkpoint else -1


def committed_batches(
    settings: Settings, query: str, checkpoint: str, timeout_s: float = 30.0
) -> list[int]:
    """Every batch_id committed for `query` under `checkpoint`, in log order; read from the
    commits topic as a read_committed consumer sees it (so an aborted batch does not count)."""
    records = read_topic(settings, settings.topics.stream_commits, avro=False, timeout_s=timeout_s)
    found = (committed_batch(r.key, r.value, query, checkpoint) for r in records)
    return [b for b in found if b >= 0]


def last_committed(settings: Settings, query: str, checkpoint: str, timeout_s: float = 30.0) -> int:
    """The highest batch_id committed for `query` under `checkpoint`, or -1."""
    return max(committed_batches(settings, query, checkpoint, timeout_s), default=-1)


class ExactlyOnceSink:
    """Call it with each micro-batch's records and batch_id (from `foreachBatch`)."""

    def __init__(
        self,
        settings: Settings,
        query: str,
        checkpoint_dir: Path,
        commit_timeout_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.query = query
        self.checkpoint_dir = checkpoint_dir
        self.timeout = commit_timeout_s
        self.producer = Producer(
            settings.kafka_config(
                **{
                    "transactional.id": f"transitstream-stream-{query}",
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "compression.type": "lz4",
                    "transaction.timeout.ms": 60_000,
                }
            )
        )
        # Fences any earlier producer of this query and aborts its open transaction.
        self.producer.init_transactions(commit_timeout_s)
        self.checkpoint: str | None = None  # read at the first batch: Spark writes it at start
        self.committed = -1
        self.skipped = 0

    def write(self, batch_id: int, records: Iterable[TopicRecords]) -> bool:
        """Write the batch exactly once; False if it was already committed (a replay)."""
        if self.checkpoint is None:
            self.checkpoint = checkpoint_id(self.checkpoint_dir)
            self.committed = last_committed(self.settings, self.query, self.checkpoint)
        if batch_id <= self.committed:
            self.skipped += 1
            log.info("%s: batch %d already committed, skipped", self.query, batch_id)
            return False
        failures: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, _msg: object) -> None:
            if err is not None:
                failures.append(err)

        self.producer.begin_transaction()
        try:
            for r in records:
                self._produce(r, on_delivery)
            marker = json.dumps(
                {
                    "query": self.query,
                    "checkpoint": self.checkpoint,
                    "batch_id": batch_id,
                    "committed_at": time.time(),
                }
            )
            commits = self.settings.topics.stream_commits
            self._produce(
                TopicRecords(commits, [self.query.encode()], [marker.encode()]), on_delivery
            )
            self.producer.commit_transaction(self.timeout)
        except BaseException:
            try:
                self.producer.abort_transaction(self.timeout)
            except KafkaException as exc:
                log.warning("%s: abort of batch %d failed: %s", self.query, batch_id, exc)
            raise
        if failures:
            raise TransitStreamError(f"{self.query}: batch {batch_id}: {failures[0]}")
        self.committed = batch_id
        return True

    def _produce(
        self, r: TopicRecords, on_delivery: Callable[[KafkaError | None, object], None]
    ) -> None:
        produce, poll, topic = self.producer.produce, self.producer.poll, r.topic
        for i, (key, value) in enumerate(zip(r.keys, r.values, strict=True), 1):
            while True:
                try:
                    produce(topic, value, key, on_delivery=on_delivery)
                    break
                except BufferError:  # local queue full: let deliveries drain, then go on
                    poll(0.1)
            if i % POLL_EVERY == 0:
                poll(0)
        poll(0)

    def close(self) -> None:
        """Flush and let go of the producer: the JVM may keep this object (foreachBatch holds
        it) long after the job, and a live producer would keep reconnecting to Kafka."""
        self.producer.flush(self.timeout)
        del self.producer
