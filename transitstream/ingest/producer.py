"""Transactional, idempotent producers: one HTTP request is one Kafka transaction.

Good events go to the position topic and bad ones to the dead-letter topic in the same
transaction, so a 202 means both are durable and a failure means neither is visible to a
`read_committed` reader. A transaction belongs to one producer at a time, so a small pool lets
several requests commit concurrently. Each pooled producer has a stable `transactional.id`
(instance id + slot): a restarted ingestor fences its own zombies.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Producer

from transitstream.config import Settings

log = logging.getLogger(__name__)


class KafkaUnavailable(Exception):
    """Kafka could not take the batch now; the client should retry (HTTP 503)."""

    def __init__(self, message: str, reusable: bool = False) -> None:
        super().__init__(message)
        self.reusable = reusable  # the producer aborted cleanly and may serve the next request


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes


def producer_config(settings: Settings, slot: int) -> dict[str, object]:
    return settings.kafka_config(
        **{
            "transactional.id": f"transitstream-{settings.ingest.instance_id}-{slot}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "compression.type": "lz4",
            "transaction.timeout.ms": 60_000,
            "message.timeout.ms": 30_000,
            "queue.buffering.max.messages": 200_000,
            "socket.timeout.ms": 5_000,
            "log_level": 3,
        }
    )


class TransactionalPool:
    """Producers checked out one per request; a broken one is replaced on the next checkout."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeout = settings.ingest.commit_timeout_s
        self._free: queue.Queue[tuple[int, Producer | None]] = queue.Queue()
        for slot in range(settings.ingest.producers):
            self._free.put((slot, None))
        self.aborts = 0

    def _ready(self, slot: int, producer: Producer | None) -> Producer:
        if producer is not None:
            return producer
        fresh = Producer(producer_config(self.settings, slot))
        try:
            fresh.init_transactions(self.timeout)
        except KafkaException as exc:
            fresh.flush(0)
            raise KafkaUnavailable(f"cannot start a Kafka transaction: {exc.args[0]}") from exc
        return fresh

    def send(self, records: Iterable[Outgoing]) -> int:
        """Produce all records in one transaction and commit; blocks (call from a thread)."""
        slot, producer = self._free.get()
        try:
            producer = self._ready(slot, producer)
            count = self._transaction(producer, records)
            self._free.put((slot, producer))
            return count
        except KafkaUnavailable as exc:
            # A broken producer is rebuilt on next use; its init_transactions fences the old one.
            self._free.put((slot, producer if exc.reusable else None))
            raise
        except BaseException:
            self._free.put((slot, None))
            raise

    def _transaction(self, producer: Producer, records: Iterable[Outgoing]) -> int:
        failures: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, _msg: object) -> None:
            if err is not None:
                failures.append(err)

        producer.begin_transaction()
        count = 0
        try:
            for r in records:
                producer.produce(r.topic, key=r.key, value=r.value, on_delivery=on_delivery)
                producer.poll(0)
                count += 1
            producer.commit_transaction(self.timeout)
            producer.poll(0)
        except (KafkaException, BufferError) as exc:
            self.aborts += 1
            detail = exc.args[0] if exc.args else exc
            fatal = isinstance(detail, KafkaError) and detail.fatal()
            reusable = self._abort(producer) and not fatal
            raise KafkaUnavailable(f"Kafka did not take the batch: {detail}", reusable) from exc
        if failures:  # commit succeeded, so this should not happen; never hide it
            raise KafkaUnavailable(f"{len(failures)} deliveries failed: {failures[0]}")
        return count

    def _abort(self, producer: Producer) -> bool:
        try:
            producer.abort_transaction(min(self.timeout, 5))
            return True
        except KafkaException as exc:
            log.warning("abort failed (%s); the producer will be replaced", exc)
            return False

    def close(self) -> None:
        deadline = time.monotonic() + 5
        while not self._free.empty() and time.monotonic() < deadline:
            _, producer = self._free.get_nowait()
            if producer is not None:
                producer.flush(1)
