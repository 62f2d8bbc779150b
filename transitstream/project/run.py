"""The projector loop: consume, decode, coalesce, and write each batch with its offsets.

A batch closes at `Settings.project.batch_max` records or `batch_timeout_s`, whichever first.
On partition assignment the consumer seeks to the offsets stored in Postgres (never to Kafka's
committed offsets: it commits none), so a crash neither skips nor re-applies a record.

Bounded modes for tests and notebooks: `max_messages`, `idle_timeout_s`, `stop_at_end` (every
assigned partition read to its end). SIGINT/SIGTERM finish the batch in hand and stop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from psycopg_pool import ConnectionPool

from transitstream import schemas
from transitstream.config import Settings
from transitstream.db.migrate import migrate
from transitstream.errors import InfraError, TransitStreamError
from transitstream.project import dlq, metrics, source, stale, writer
from transitstream.project.batch import Batch, DeadLetter
from transitstream.project.tables import Table, select

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunResult:
    records: int = 0
    batches: int = 0
    upserted: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    stale_deleted: int = 0
    batch_seconds: list[float] = field(default_factory=list)


class Projector:
    """The state of one run: what is assigned, where each partition stands, the open batch."""

    def __init__(
        self,
        settings: Settings,
        tables: list[Table],
        pool: ConnectionPool,
        path: writer.WritePath = writer.WRITE_PATH,
    ) -> None:
        self.settings = settings
        self.tables = {t.topic_of(settings): t for t in tables}
        self.pool = pool
        self.path = path
        self.channel = settings.project.notify_channel  # wakes the API when a batch commits
        self.producer = dlq.producer(settings)
        self.batch = Batch()
        self.positions: dict[tuple[str, int], int] = {}  # committed next offsets
        self.at_end: set[tuple[str, int]] = set()
        self.result = RunResult()

    # -- rebalance: seek to what Postgres says, write what we hold before letting go ----------
    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self.pool.connection() as conn:
            stored = {
                k: v
                for t in self.tables.values()
                for k, v in writer.load_offsets(conn, t.projector).items()
            }
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
            if tp.offset != OFFSET_BEGINNING:
                self.positions[(tp.topic, tp.partition)] = tp.offset
        consumer.assign(partitions)
        log.info("assigned %s", [(tp.topic, tp.partition, tp.offset) for tp in partitions])

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.flush()
        for tp in partitions:
            self.positions.pop((tp.topic, tp.partition), None)
            self.at_end.discard((tp.topic, tp.partition))

    # -- one message --------------------------------------------------------------------------
    def take(self, msg: Message, deserializer: source.Decoder) -> None:
        topic, partition = msg.topic() or "", msg.partition() or 0
        error = msg.error()
        if error is not None:  # an event, maybe of no topic at all (e.g. fenced)
            if error.code() == KafkaError._PARTITION_EOF and topic in self.tables:
                table = self.tables[topic]
                self.at_end.add((topic, partition))
                end = msg.offset() or 0
                if end > self.positions.get((topic, partition), 0):  # past transaction markers
                    self.batch.reach(table, topic, partition, end)
                return
            if error.fatal() or error.code() == KafkaError._FATAL:
                raise fatal(self.settings, error)
            log.warning("consumer: %s", error)
            return
        table = self.tables[topic]
        self.at_end.discard((topic, partition))
        metrics.RECORDS.labels(topic).inc()
        value, letter = source.decode(deserializer, msg, table)
        if letter is not None:
            self.batch.fail(letter, table)
        elif value is None:
            self.batch.reach(table, topic, partition, (msg.offset() or 0) + 1)
            self.batch.records += 1
        else:
            self.batch.add(
                table, value, topic, partition, msg.offset() or 0, msg.key(), msg.value()
            )

    # -- one batch ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Dead letters out and flushed, then rows + offsets in one Postgres transaction."""
        batch, self.batch = self.batch, Batch()
        if not batch.offsets:
            return
        started = time.perf_counter()
        dlq.send(self.producer, self.settings, batch.dead)
        tables = [(batch.tables[name], rows) for name, rows in batch.row_lists().items()]
        with self.pool.connection() as conn:
            try:
                changed = writer.write_batch(
                    conn, tables, batch.offsets, path=self.path, notify=self.channel
                )
                refused: list[DeadLetter] = []
            except writer.ROW_ERRORS:
                refused = []

                def dead_letter(rows: list[tuple[Table, tuple[object, ...], str]]) -> None:
                    refused.extend(batch.refused(table, row, reason) for table, row, reason in rows)
                    dlq.send(self.producer, self.settings, refused)

                changed, _ = writer.write_isolating(
                    conn, tables, batch.offsets, on_refused=dead_letter, notify=self.channel
                )
        elapsed = time.perf_counter() - started
        for (_, topic, partition), offset in batch.offsets.items():
            self.positions[(topic, partition)] = offset
        for letter in [*batch.dead, *refused]:
            metrics.DLQ.labels(letter.topic, letter.reason).inc()
        for name, n in changed.items():
            metrics.UPSERTED.labels(name).inc(n)
            self.result.upserted[name] = self.result.upserted.get(name, 0) + n
        metrics.BATCH_SECONDS.observe(elapsed)
        metrics.BATCH_RECORDS.observe(batch.records)
        self.result.batches += 1
        self.result.records += batch.records
        self.result.dead_letters += len(batch.dead) + len(refused)
        self.result.batch_seconds.append(elapsed)

    def measure_lag(self, consumer: Consumer) -> None:
        """From the watermarks the last fetch responses carried (no broker round trip, which
        costs ~0.5 s per partition on a read_committed consumer)."""
        for tp in consumer.assignment():
            _, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:
                continue  # nothing fetched yet
            behind = max(high - self.positions.get((tp.topic, tp.partition), 0), 0)
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(behind)

    def sweep(self, now: datetime) -> None:
        with self.pool.connection() as conn:
            deleted, stale_now = stale.sweep(conn, self.settings, now)
        metrics.STALE_DELETED.inc(deleted)
        metrics.STALE_VEHICLES.set(stale_now)
        self.result.stale_deleted += deleted


def fatal(settings: Settings, error: KafkaError) -> TransitStreamError:
    """The consumer cannot go on; most likely another projector took our static membership."""
    hint = "run `transitstream infra status`"
    if "FENCED" in error.name() or "fenced" in error.str().lower():
        hint = (
            "another projector runs with the same TRANSITSTREAM_PROJECT__INSTANCE_ID "
            f"({settings.project.instance_id!r}): stop it (a `make demo` runs one) or give "
            "this one its own instance id"
        )
    return TransitStreamError(f"Kafka consumer stopped ({error.name()}: {error.str()}): {hint}.")


def group_id(settings: Settings, tables: list[Table]) -> str:
    return f"{settings.project.group_prefix}-{'-'.join(t.projector for t in tables)}"


def run(
    settings: Settings,
    names: str | list[str] | None = "all",
    *,
    max_messages: int | None = None,
    idle_timeout_s: float | None = None,
    stop_at_end: bool = False,
    now: Clock = wall_clock,
    serve_metrics: bool = False,
    stop: threading.Event | None = None,
    path: writer.WritePath = writer.WRITE_PATH,
    sweep: bool = True,
) -> RunResult:
    """Project `names` (vehicles, etas, anomalies; `all`) until stopped or a bound is reached.

    `now` is the clock of the stale sweeps (every `sweep_interval_s`, and once at the end).
    """
    tables = select(names)
    migrate(settings)
    stop = stop or threading.Event()
    heartbeat = metrics.Heartbeat()
    server = None
    if serve_metrics:
        try:
            server = metrics.serve(settings.project.host, settings.project.metrics_port, heartbeat)
        except OSError as exc:
            raise InfraError(
                f"port {settings.project.metrics_port} is taken ({exc}): stop the other projector "
                "or set TRANSITSTREAM_PROJECT__METRICS_PORT."
            ) from exc
    previous = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    pool = source.open_pool(settings)
    projector = Projector(settings, tables, pool, path)
    deserializer = source.Decoder(schemas.registry_client(settings))
    consumer = source.consumer(settings, group_id(settings, tables))
    cfg = settings.project
    try:
        consumer.subscribe(
            list(projector.tables), on_assign=projector.on_assign, on_revoke=projector.on_revoke
        )
        last_message = next_sweep = next_lag = time.monotonic()
        while not stop.is_set():
            heartbeat.beat(records=projector.result.records, batches=projector.result.batches)
            wait = max(0.05, min(1.0, cfg.batch_timeout_s - projector.batch.age_s()))
            room = max(1, min(cfg.batch_max - len(projector.batch), 10_000))
            try:
                messages = consumer.consume(num_messages=room, timeout=wait)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.fatal():
                    raise fatal(settings, error) from exc
                raise
            for msg in messages:
                projector.take(msg, deserializer)
            if any(m.error() is None for m in messages):
                last_message = time.monotonic()
            batch = projector.batch
            if len(batch) >= cfg.batch_max or batch.age_s() >= cfg.batch_timeout_s:
                projector.flush()
            moment = time.monotonic()
            if sweep and moment >= next_sweep:
                projector.sweep(now())
                next_sweep = moment + cfg.sweep_interval_s
            if moment >= next_lag:
                projector.measure_lag(consumer)
                next_lag = moment + cfg.lag_interval_s
            done_messages = (
                max_messages is not None
                and projector.result.records + len(projector.batch) >= max_messages
            )
            idle = idle_timeout_s is not None and moment - last_message >= idle_timeout_s
            assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
            at_end = stop_at_end and bool(assigned) and assigned <= projector.at_end
            if done_messages or idle or at_end:
                break
        projector.flush()
        if sweep:
            projector.sweep(now())
        projector.measure_lag(consumer)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        consumer.close()
        projector.producer.flush(10)
        pool.close()
        if server is not None:
            server.shutdown()
            server.server_close()
    return projector.result
