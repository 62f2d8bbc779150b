"""The projector's dead-letter topic: records the read models cannot take, kept for a person.

The value is the record's raw bytes, untouched; what went wrong and where the record came from
travel in headers, as Kafka Connect's dead-letter queue does (`errors.deadletterqueue.context.
headers.enable`). The key is `topic/partition/offset`, unique per source record.

Delivery: the batch's dead letters are flushed *before* its Postgres transaction commits the
offsets, so none is lost. A crash between the flush and the commit re-reads the batch and
dead-letters those records again (at least once); the key tells the duplicates apart.
"""

from __future__ import annotations

from confluent_kafka import KafkaError, Producer

from transitstream.config import Settings
from transitstream.errors import TransitStreamError
from transitstream.project.batch import DeadLetter


def producer(settings: Settings) -> Producer:
    return Producer(
        settings.kafka_config(
            **{"enable.idempotence": True, "acks": "all", "linger.ms": 5, "log_level": 3}
        )
    )


def headers(letter: DeadLetter) -> list[tuple[str, str | bytes | None]]:
    return [
        ("reason", letter.reason.encode()),
        ("error", letter.error[:2000].encode()),
        ("source.topic", letter.topic.encode()),
        ("source.partition", str(letter.partition).encode()),
        ("source.offset", str(letter.offset).encode()),
        ("source.key", letter.key or b""),
        ("projector", letter.projector.encode()),
    ]


def send(
    p: Producer, settings: Settings, letters: list[DeadLetter], timeout_s: float = 30.0
) -> None:
    """Produce and flush; raise if any is not acknowledged (the batch must not commit then)."""
    if not letters:
        return
    failures: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failures.append(err)

    for letter in letters:
        key = f"{letter.topic}/{letter.partition}/{letter.offset}".encode()
        p.produce(
            settings.topics.projector_dlq,
            key=key,
            value=letter.value,
            headers=headers(letter),
            on_delivery=on_delivery,
        )
        p.poll(0)
    left = p.flush(timeout_s)
    if left or failures:
        raise TransitStreamError(
            f"{len(failures) or left} dead letter(s) not written to {settings.topics.projector_dlq}"
            f" ({failures[0] if failures else 'flush timed out'}): is Kafka up at "
            f"{settings.kafka.bootstrap_servers}? run `transitstream infra status`."
        )
