"""What one request does, apart from HTTP: validate, serialize, produce in one transaction."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.serialization import MessageField, SerializationContext

from transitstream import schemas
from transitstream.config import Settings
from transitstream.ingest import metrics
from transitstream.ingest.producer import KafkaUnavailable, Outgoing, TransactionalPool
from transitstream.ingest.validate import Rejection, validate_event


@dataclass
class Outcome:
    accepted: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected, "errors": self.errors}


@dataclass(frozen=True)
class Received:
    """A request's payload as it arrived: parsed items (or None if not JSON) and raw bytes."""

    raw: bytes
    content_type: str | None
    received_ms: int


class Ingestor:
    def __init__(self, settings: Settings, pool: TransactionalPool) -> None:
        self.settings = settings
        self.pool = pool
        self.registry = SchemaRegistryClient(settings.registry_config())
        topics = settings.topics
        self._ctx = SerializationContext(topics.position, MessageField.VALUE)
        self._dlq_ctx = SerializationContext(topics.position_dlq, MessageField.VALUE)
        self._serialize = schemas.serializer(self.registry, settings, topics.position)
        self._serialize_dlq = schemas.serializer(self.registry, settings, topics.position_dlq)
        self._registered = False
        self._lock = threading.Lock()

    def ensure_registered(self) -> None:
        """Register the schemas once; retried on later requests if the registry was down."""
        if self._registered:
            return
        with self._lock:
            if not self._registered:
                try:
                    schemas.register_all(self.registry, self.settings)
                except Exception as exc:
                    raise KafkaUnavailable(f"schema registry unavailable: {exc}") from exc
                self._registered = True

    def dead_letter(
        self, rejection: Rejection, raw: bytes, received: Received, index: int | None
    ) -> Outgoing:
        record = {
            "reason": rejection.reason,
            "error_code": rejection.code,
            "source": "ingest",
            "raw": raw,
            "content_type": received.content_type,
            "batch_index": index,
            "vehicle_id": rejection.vehicle_id,
            "receive_time": received.received_ms,
        }
        key = rejection.vehicle_id.encode() if rejection.vehicle_id else None
        return Outgoing(self.settings.topics.position_dlq, key, self._dlq(record))

    def _dlq(self, record: dict[str, Any]) -> bytes:
        value = self._serialize_dlq(record, self._dlq_ctx)
        assert value is not None
        return value

    def ingest(self, items: list[Any], received: Received, batch: bool) -> Outcome:
        """Validate items and commit them (good and bad) in one transaction. Blocking."""
        self.ensure_registered()
        outcome = Outcome()
        out: list[Outgoing] = []
        reasons: list[str] = []
        for i, item in enumerate(items):
            record, rejection = validate_event(item, received.received_ms, self.settings.ingest)
            if record is not None:
                value = self._serialize(record, self._ctx)
                assert value is not None
                out.append(
                    Outgoing(self.settings.topics.position, record["vehicle_id"].encode(), value)
                )
                outcome.accepted += 1
            else:
                assert rejection is not None
                raw = json.dumps(item, separators=(",", ":")).encode()
                out.append(self.dead_letter(rejection, raw, received, i if batch else None))
                outcome.rejected += 1
                outcome.errors.append(
                    {"index": i, "code": rejection.code, "reason": rejection.reason}
                )
                reasons.append(rejection.code)
        self._commit(out)
        metrics.ACCEPTED.inc(outcome.accepted)
        for code in reasons:
            metrics.REJECTED.labels(code).inc()
        return outcome

    def reject_body(self, rejection: Rejection, received: Received) -> Outcome:
        """A body that is not what the endpoint takes (not JSON, not an array) is kept whole."""
        self.ensure_registered()
        self._commit([self.dead_letter(rejection, received.raw, received, None)])
        metrics.REJECTED.labels(rejection.code).inc()
        return Outcome(
            rejected=1, errors=[{"index": None, "code": rejection.code, "reason": rejection.reason}]
        )

    def _commit(self, out: list[Outgoing]) -> None:
        start = time.perf_counter()
        try:
            self.pool.send(out)
        except KafkaUnavailable:
            metrics.ABORTS.inc()
            raise
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - start)
