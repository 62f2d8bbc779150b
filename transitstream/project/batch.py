"""One batch of consumed records on its way into one Postgres transaction: the coalesced rows per
table, the offsets the batch reaches, and the records that go to the dead-letter topic.

Pure bookkeeping (no I/O). Offsets are `next_offset` = last consumed + 1, what a consumer seeks to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from transitstream.project.tables import InvalidRecord, Row, Table

OffsetKey = tuple[str, str, int]  # (projector, topic, partition)
Origin = tuple[str, int, int, bytes | None, bytes | None]


@dataclass(frozen=True)
class DeadLetter:
    """A record the read models cannot take, with what a person needs to investigate it."""

    reason: str
    error: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    projector: str


@dataclass
class Batch:
    rows: dict[str, dict[tuple[Any, ...], Row]] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    offsets: dict[OffsetKey, int] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    # (table, row key) -> (topic, partition, offset, key, raw) of the last record that wrote it:
    # what a row Postgres refuses is dead-lettered as (a plain tuple: this runs per record)
    origin: dict[tuple[str, tuple[Any, ...]], Origin] = field(default_factory=dict)
    records: int = 0
    started: float = field(default_factory=time.monotonic)

    def reach(self, table: Table, topic: str, partition: int, next_offset: int) -> None:
        key = (table.projector, topic, partition)
        self.offsets[key] = max(self.offsets.get(key, 0), next_offset)

    def add(
        self,
        table: Table,
        value: Any,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None = None,
        raw: bytes | None = None,
    ) -> None:
        """A decoded record: coalesced into its row (or dead-lettered if the model refuses it).
        Records of a partition come in offset order, so the last one sets its offset."""
        self.records += 1
        self.offsets[(table.projector, topic, partition)] = offset + 1
        try:
            row = table.to_row(value)
        except (InvalidRecord, KeyError, TypeError) as exc:
            self.dead.append(
                DeadLetter("invalid", str(exc), topic, partition, offset, key, raw, table.projector)
            )
            return
        row_key = self.add_row(table, row)
        self.origin[(table.name, row_key)] = (topic, partition, offset, key, raw)

    def refused(self, table: Table, row: Row, reason: str) -> DeadLetter:
        """The dead letter of a row Postgres refused: the last record that wrote it."""
        topic, partition, offset, key, raw = self.origin[(table.name, table.key_of(row))]
        return DeadLetter("constraint", reason, topic, partition, offset, key, raw, table.projector)

    def add_row(self, table: Table, row: Row) -> tuple[Any, ...]:
        rows = self.rows.get(table.name)
        if rows is None:
            rows = self.rows[table.name] = {}
            self.tables[table.name] = table
        key = table.key_of(row)
        cur = rows.get(key)
        rows[key] = row if cur is None else table.merge(cur, row)
        return key

    def fail(self, letter: DeadLetter, table: Table) -> None:
        """A record that did not decode: it still moves the offset on."""
        self.records += 1
        self.reach(table, letter.topic, letter.partition, letter.offset + 1)
        self.dead.append(letter)

    def row_lists(self) -> dict[str, list[Row]]:
        return {name: list(rows.values()) for name, rows in self.rows.items() if rows}

    def age_s(self) -> float:
        return time.monotonic() - self.started

    def __len__(self) -> int:
        return self.records
