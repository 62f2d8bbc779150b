"""The registry's durable state: one compacted, single-partition Kafka topic.

One partition keeps a total order of changes; compaction keeps the newest value per key, which
is exactly the state, so a replay from the beginning rebuilds it however old the topic is.
Writes are acknowledged by all in-sync replicas before the caller changes memory.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from transitstream.config import Settings
from transitstream.registry.errors import RegistryStorageError
from transitstream.registry.records import Record

log = logging.getLogger(__name__)

# librdkafka gives up on a message after this long and then always calls the delivery callback,
# so a flush that waits a little longer sees every outcome and memory never runs ahead of Kafka.
DELIVERY_TIMEOUT_MS = 30_000


class KafkaLog:
    """Reads and appends the registry topic; built in the app's lifespan, never at import."""

    def __init__(self, settings: Settings, topic: str | None = None) -> None:
        self.settings = settings
        self.topic = topic or settings.registry.topic
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None

    @property
    def where(self) -> str:
        return f"topic {self.topic!r} on {self.settings.kafka.bootstrap_servers}"

    def open(self, timeout_s: float = 30.0) -> None:
        self._admin = AdminClient(self.settings.kafka_config())
        self.ensure_topic(timeout_s)
        self._producer = Producer(
            self.settings.kafka_config(
                **{
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 0,
                    "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                    "client.id": "transitstream-registry",
                }
            )
        )

    def close(self) -> None:
        if self._producer is not None:
            left = self._producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 5)
            if left:
                log.warning("%d registry record(s) undelivered at shutdown", left)
            self._producer = None
        self._admin = None

    def ensure_topic(self, timeout_s: float) -> None:
        """Create the topic compacted with one partition; refuse an existing one that is not."""
        admin = self._require(self._admin)
        new = NewTopic(
            self.topic,
            num_partitions=1,
            replication_factor=-1,
            config={"cleanup.policy": "compact"},
        )
        future = admin.create_topics([new], operation_timeout=timeout_s)[self.topic]
        try:
            future.result(timeout=timeout_s)
            log.info("created %s (1 partition, compacted)", self.where)
        except KafkaException as exc:
            err = exc.args[0]
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise RegistryStorageError(
                    f"cannot create {self.where}: {exc}; is Kafka running and reachable "
                    "(TRANSITSTREAM_KAFKA__HOST / TRANSITSTREAM_KAFKA__PORT)?"
                ) from exc
        except Exception as exc:  # concurrent.futures.TimeoutError and friends
            raise RegistryStorageError(
                f"no answer from Kafka while creating {self.where} within {timeout_s:.0f}s: "
                f"{exc!r}; start Kafka or fix TRANSITSTREAM_KAFKA__HOST / __PORT"
            ) from exc
        meta = admin.list_topics(topic=self.topic, timeout=timeout_s).topics[self.topic]
        if meta.error is not None:
            raise RegistryStorageError(f"{self.where} is unusable: {meta.error}")
        if len(meta.partitions) != 1:
            raise RegistryStorageError(
                f"{self.where} has {len(meta.partitions)} partitions; the registry needs exactly "
                "one to keep changes in order. Point TRANSITSTREAM_REGISTRY__TOPIC elsewhere."
            )

    def replay(self, timeout_s: float = 60.0) -> Iterator[tuple[bytes | None, bytes | None]]:
        """Every record from the beginning up to the end offset seen when the replay starts."""
        consumer = Consumer(
            self.settings.kafka_config(
                **{
                    # assign() without commits: the group id only satisfies librdkafka.
                    "group.id": f"transitstream-registry-replay-{uuid.uuid4()}",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "auto.offset.reset": "earliest",
                }
            )
        )
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(self.topic, 0), timeout=timeout_s
            )
            log.info("replaying %s offsets [%d, %d)", self.where, low, high)
            if high <= low:
                return
            consumer.assign([TopicPartition(self.topic, 0, low)])
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                msg = consumer.poll(1.0)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        return
                    raise RegistryStorageError(f"reading {self.where}: {err}")
                yield msg.key(), msg.value()
                offset = msg.offset()
                if offset is not None and offset >= high - 1:
                    return
            raise RegistryStorageError(
                f"replay of {self.where} did not reach offset {high} within {timeout_s:.0f}s"
            )
        finally:
            consumer.close()

    def append(self, records: Sequence[Record]) -> list[str | None]:
        """Produce and wait; one entry per record: None if durable, else the error text."""
        producer = self._require(self._producer)
        outcome: list[str | None] = ["no delivery report"] * len(records)

        def delivered(i: int, err: KafkaError | None, _msg: Message) -> None:
            outcome[i] = None if err is None else str(err)

        for i, (key, value) in enumerate(records):
            try:
                producer.produce(
                    self.topic, key=key, value=value, partition=0, on_delivery=partial(delivered, i)
                )
            except (BufferError, KafkaException) as exc:
                outcome[i] = f"not queued: {exc}"
            producer.poll(0)
        producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 5)
        return outcome

    def healthy(self, timeout_s: float = 2.0) -> tuple[bool, str]:
        admin = self._admin
        if admin is None:
            return False, "not started"
        try:
            meta = admin.list_topics(topic=self.topic, timeout=timeout_s)
        except KafkaException as exc:
            return False, str(exc)
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None:
            return False, f"{self.where}: {topic.error if topic else 'missing'}"
        return True, self.where

    @staticmethod
    def _require(client: Any) -> Any:
        if client is None:
            raise RegistryStorageError("the Kafka log is not open; call open() in the lifespan")
        return client
