"""Rebuild the read models from the log (event sourcing's promise: Postgres can always be
dropped and recomputed from Kafka).

The topics are replayed from offset 0 into shadow tables while the API keeps reading the live
ones. Then, holding the live tables locked, the rebuild reads on to wherever a live projector
has got meanwhile (its stored offsets), and swaps shadows and offsets in the same transaction.
A live projector running throughout goes on from its own position without a gap.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from psycopg_pool import ConnectionPool
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from transitstream import schemas
from transitstream.config import Settings
from transitstream.db.migrate import migrate
from transitstream.errors import TransitStreamError
from transitstream.project import metrics, source, stale, swap, writer
from transitstream.project.batch import Batch
from transitstream.project.run import Clock, wall_clock
from transitstream.project.tables import Table, select

Position = dict[tuple[str, int], int]


@dataclass
class RebuildResult:
    records: int = 0
    seconds: float = 0.0
    dead_letters: int = 0
    offsets: dict[tuple[str, str, int], int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


class Replay:
    """A group-less consumer from offset 0 of every partition, writing into the shadows."""

    def __init__(self, settings: Settings, tables: list[Table], pool: ConnectionPool) -> None:
        self.settings = settings
        self.tables = {t.topic_of(settings): t for t in tables}
        self.targets = {t.name: swap.shadow(t) for t in tables}
        self.pool = pool
        self.consumer: Consumer = source.consumer(
            settings,
            f"{settings.project.group_prefix}-rebuild-{uuid.uuid4().hex[:8]}",
            static=False,
        )
        self.deserializer = source.Decoder(schemas.registry_client(settings))
        self.positions: Position = {}
        self.ends: Position = {}
        self.result = RebuildResult()
        parts = []
        for topic in self.tables:
            meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
            if meta.error is not None:
                raise TransitStreamError(
                    f"topic {topic}: {meta.error}: run `transitstream infra topics`."
                )
            for p in meta.partitions:
                tp = TopicPartition(topic, p)
                low, high = self.consumer.get_watermark_offsets(tp, timeout=10)
                self.positions[(topic, p)], self.ends[(topic, p)] = low, high
                parts.append(TopicPartition(topic, p, OFFSET_BEGINNING))
        self.consumer.assign(parts)

    def behind(self, targets: Position) -> list[tuple[str, int]]:
        return [k for k, v in targets.items() if self.positions.get(k, 0) < v]

    def read_until(
        self,
        targets: Position,
        conn: psycopg.Connection | None,
        timeout_s: float,
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        """Consume and write batches until every partition reaches its target offset."""
        deadline = time.monotonic() + timeout_s
        batch = Batch()
        while self.behind(targets):
            if time.monotonic() > deadline:
                raise TransitStreamError(
                    f"rebuild could not read {self.behind(targets)} to their end in "
                    f"{timeout_s:.0f} s: is Kafka up? run `transitstream infra status`."
                )
            room = self.settings.project.batch_max
            for msg in self.consumer.consume(num_messages=room, timeout=0.5):
                self._take(msg, batch)
            if len(batch) >= self.settings.project.batch_max or not self.behind(targets):
                self._write(batch, conn)
                batch = Batch()
                if on_batch is not None:
                    on_batch()

    def _take(self, msg: Message, batch: Batch) -> None:
        topic, partition = msg.topic() or "", msg.partition() or 0
        key = (topic, partition)
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                self.positions[key] = max(self.positions.get(key, 0), msg.offset() or 0)
                return
            raise KafkaException(error)
        table = self.tables[topic]
        self.positions[key] = (msg.offset() or 0) + 1
        value, letter = source.decode(self.deserializer, msg, table)
        if letter is not None:
            batch.fail(letter, table)  # already dead-lettered by the live projector: counted only
        elif value is not None:
            batch.add(table, value, topic, partition, msg.offset() or 0, msg.key(), msg.value())
        else:
            batch.records += 1

    def _write(self, batch: Batch, conn: psycopg.Connection | None) -> None:
        tables = [(batch.tables[n], rows) for n, rows in batch.row_lists().items()]
        if conn is None:
            with self.pool.connection() as own:
                writer.write_batch(own, tables, {}, targets=self.targets)
        else:  # inside the swap transaction (a savepoint)
            writer.write_batch(conn, tables, {}, targets=self.targets)
        self.result.records += batch.records
        self.result.dead_letters += len(batch.dead)

    def offsets(self) -> dict[tuple[str, str, int], int]:
        return {(self.tables[t].projector, t, p): v for (t, p), v in self.positions.items()}


def _stored(conn: psycopg.Connection, tables: list[Table], topics: set[str]) -> Position:
    """Where live projectors stand in the topics replayed (rows of other topics, e.g. a test's
    scratch topics under the same projector name, are not ours to chase)."""
    out: Position = {}
    for t in tables:
        out.update(
            {k: v for k, v in writer.load_offsets(conn, t.projector).items() if k[0] in topics}
        )
    return out


def finish(replay: Replay, now: Clock) -> None:
    """Sweep the shadows, then in one transaction: lock the live tables (a live projector's
    batch in flight completes first), read on to wherever a live projector got to, and swap the
    shadows and the offsets in."""
    tables = list(replay.tables.values())
    with replay.pool.connection() as conn:
        stale.sweep(conn, replay.settings, now(), targets=replay.targets)
        with conn.transaction():
            swap.lock_live(conn, tables)
            live = _stored(conn, tables, set(replay.tables))
            replay.read_until(live, conn, timeout_s=60)
            stale.sweep(conn, replay.settings, now(), targets=replay.targets)
            swap.swap_in(conn, tables, replay.offsets())


def rebuild(
    settings: Settings,
    names: str | list[str] | None = "all",
    *,
    now: Clock = wall_clock,
    show_progress: bool = True,
    timeout_s: float = 3600.0,
) -> RebuildResult:
    """Replay the topics into shadow tables and swap them in; `now` is the stale sweep's clock."""
    tables = select(names)
    migrate(settings)
    started = time.perf_counter()
    pool = source.open_pool(settings, "rebuild")
    replay: Replay | None = None
    try:
        with pool.connection() as conn:
            swap.create_shadows(conn, tables)
        replay = Replay(settings, tables, pool)
        r = replay
        total = sum(r.ends[k] - r.positions[k] for k in r.ends) or 1
        start = dict(r.positions)
        columns = (
            TextColumn("rebuild {task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, disable=not show_progress) as progress:
            task = progress.add_task(", ".join(t.name for t in tables), total=total)

            def advance() -> None:
                done = sum(min(r.positions[k], r.ends[k]) - start[k] for k in r.ends)
                progress.update(task, completed=done)
                for t in tables:
                    metrics.REBUILD_PROGRESS.labels(t.name).set(done / total)

            r.read_until(r.ends, None, timeout_s, on_batch=advance)
            advance()
        finish(r, now)
        for t in tables:
            metrics.REBUILD_PROGRESS.labels(t.name).set(1.0)
        r.result.offsets = r.offsets()
        r.result.seconds = time.perf_counter() - started
        return r.result
    except BaseException:
        with pool.connection() as conn:
            swap.drop_shadows(conn, tables)  # the live tables were never touched
        raise
    finally:
        if replay is not None:
            replay.consumer.close()
        pool.close()
