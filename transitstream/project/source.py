"""Where the projectors read: consumer settings, the Postgres pool, and decoding with the
dead-letter decision (a record that does not decode is the record's fault; a registry that does
not answer is ours, and stops the projector instead of dead-lettering good records)."""

from __future__ import annotations

from typing import Any

import httpx
from confluent_kafka import Consumer, Message
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from psycopg_pool import ConnectionPool, PoolTimeout

from transitstream import wire
from transitstream.config import Settings
from transitstream.errors import InfraError
from transitstream.project.batch import DeadLetter
from transitstream.project.tables import Table
from transitstream.wire import UndecodableRecord, parse_schema


def consumer(settings: Settings, group: str, static: bool = True, **extra: Any) -> Consumer:
    """read_committed (aborted stream-job batches stay invisible), offsets kept in Postgres.

    Static group membership (`group.instance.id` from `Settings.project.instance_id`): a
    projector restarted after a crash gets its partitions back at once instead of waiting for
    the dead member's session to time out. Two live processes must not share an instance id
    (the broker fences the older one): give a second instance its own."""
    if static:
        extra = {"group.instance.id": f"{group}-{settings.project.instance_id}", **extra}
    return Consumer(
        settings.kafka_config(
            **{
                "group.id": group,
                "session.timeout.ms": int(settings.project.session_timeout_s * 1000),
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,  # how bounded runs know they reached the end
                "fetch.min.bytes": 1,
                "queued.max.messages.kbytes": 65536,
                **extra,
            }
        )
    )


def open_pool(settings: Settings, name: str = "projector") -> ConnectionPool:
    """Created closed and opened here (ARCHITECTURE.md section 8); autocommit so each
    `conn.transaction()` is exactly one BEGIN/COMMIT."""
    pool = ConnectionPool(
        settings.postgres.conninfo(),
        min_size=1,
        max_size=settings.project.pool_size,
        kwargs={"autocommit": True, "application_name": f"transitstream-{name}"},
        open=False,
        name=name,
    )
    try:
        pool.open(wait=True, timeout=10)
    except PoolTimeout as exc:
        pool.close()
        raise InfraError(
            f"Postgres is not reachable at {settings.postgres.masked_conninfo()}: "
            "run `transitstream infra up` (or `transitstream infra status`)."
        ) from exc
    return pool


class Decoder:
    """Confluent-framed Avro (magic byte 0, 4-byte schema id, body), the writer's schema fetched
    from the registry by id (and cached), decoded by `transitstream.wire` as the stream job
    decodes; the same dicts, logical types included, as confluent-kafka's `AvroDeserializer`, at
    ~1/8 of its cost per record (measured: ~10 vs ~80 µs for an ETA; when every fix sent ~30 ETAs,
    that was the projector's largest cost).

    Anything else (other framings, schemas with references or rules) goes to `AvroDeserializer`,
    which remains the reference implementation; a test checks both agree."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        self.client = client
        self.fallback = AvroDeserializer(client)
        self.parsed: dict[int, Any] = {}

    def _schema(self, schema_id: int) -> Any:
        if schema_id not in self.parsed:
            schema = self.client.get_schema(schema_id)  # 404 for an id never issued
            plain = schema.schema_type in (None, "AVRO") and not schema.references
            plain = plain and schema.rule_set is None
            self.parsed[schema_id] = parse_schema(schema.schema_str or "") if plain else None
        return self.parsed[schema_id]

    def _writer(self, schema_id: int) -> Any:
        parsed = self._schema(schema_id)
        if parsed is None:
            raise _NotPlain
        return parsed

    def __call__(self, raw: bytes, ctx: SerializationContext) -> Any:
        try:
            done = wire.decode(raw, self._writer)  # the header read once
        except _NotPlain:
            return self.fallback(raw, ctx)
        if done.schema_id is None:  # no Confluent header: another framing
            return self.fallback(raw, ctx)
        if done.error is not None:
            raise UndecodableRecord(done.error)
        return done.record


class _NotPlain(Exception):
    """A schema `wire` does not read (references, rules, not Avro): `AvroDeserializer`'s."""


def decode(deserializer: Decoder, msg: Message, table: Table) -> tuple[Any, DeadLetter | None]:
    """(value, None), or (None, a dead letter) when the bytes are not a record of ours."""
    topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
    raw = msg.value()

    def letter(reason: str, exc: BaseException) -> DeadLetter:
        error = f"{type(exc).__name__}: {exc}"
        return DeadLetter(reason, error, topic, partition, offset, msg.key(), raw, table.projector)

    if raw is None:
        return None, None  # a tombstone: nothing to project
    try:
        return deserializer(raw, SerializationContext(topic, MessageField.VALUE)), None
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:  # a schema id the registry never issued
            return None, letter("unknown-schema", exc)
        raise InfraError(
            f"schema registry error ({exc}): run `transitstream infra status`."
        ) from exc
    except (httpx.HTTPError, ConnectionError) as exc:
        raise InfraError(
            f"schema registry unreachable ({exc}): run `transitstream infra status`."
        ) from exc
    except Exception as exc:  # SerializationError, or fastavro on a corrupt body
        return None, letter("decode", exc)
