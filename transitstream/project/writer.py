"""A batch's upserts and its offsets, in one Postgres transaction.

Because the offsets commit with the rows, a crash either keeps both or neither: the restarted
projector seeks to the stored offsets and re-reads exactly what was not applied.

Write paths (`bench/project_throughput.py` measures them in one run, same rows):

* `copy` (the default, the fastest): COPY the coalesced rows into a session-local temp table,
  then one `INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE newer`. One round trip for the
  data, one set-based statement. Measured on 2 cores (bench/results.md): 34,000-41,000 records/s,
  1.4-1.7x `executemany` and 15-17x the naive path, same rows and batches.
* `executemany`: the same upsert per row, pipelined by psycopg 3 (no wait per row, but one
  statement execution per row on the server).
* `naive`: one statement per event, not coalesced, each waiting for its result: the baseline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb

from transitstream.project import sql
from transitstream.project.batch import OffsetKey
from transitstream.project.tables import ANOMALIES, Row, Table

log = logging.getLogger(__name__)
WritePath = Literal["copy", "executemany", "naive"]
WRITE_PATH: WritePath = "copy"
# A constraint or data error names one row; the batch is then retried row by row to find it.
ROW_ERRORS = (psycopg.errors.IntegrityError, psycopg.errors.DataError)


def adapt(table: Table, row: Row) -> Row:
    """Python values psycopg can send: the anomaly evidence map becomes jsonb."""
    if table is ANOMALIES:
        i = table.index("evidence")
        return (*row[:i], Jsonb(row[i]), *row[i + 1 :])
    return row


def upsert_rows(
    cur: psycopg.Cursor, table: Table, rows: list[Row], target: str, path: WritePath = WRITE_PATH
) -> int:
    """Upsert `rows` into `target` (the live table or its shadow); returns rows changed."""
    if not rows:
        return 0
    data = [adapt(table, r) for r in rows]
    if path == "copy":
        cur.execute(sql.create_stage(table))
        with cur.copy(sql.copy_stage(table)) as copy:
            for r in data:
                copy.write_row(r)
        cur.execute(sql.upsert_from_stage(table, target))
        return max(cur.rowcount, 0)
    statement = sql.upsert_values(table, target)
    if path == "executemany":
        cur.executemany(statement, data)
        return max(cur.rowcount, 0)
    changed = 0
    for r in data:
        cur.execute(statement, r)
        changed += max(cur.rowcount, 0)
    return changed


def store_offsets(cur: psycopg.Cursor, offsets: dict[OffsetKey, int]) -> None:
    if offsets:
        cur.executemany(sql.STORE_OFFSETS, [(*k, v) for k, v in sorted(offsets.items())])


def load_offsets(conn: psycopg.Connection, projector: str) -> dict[tuple[str, int], int]:
    """(topic, partition) -> next offset, as stored by the last committed batch."""
    rows = conn.execute(sql.LOAD_OFFSETS, [projector]).fetchall()
    return {(topic, partition): offset for topic, partition, offset in rows}


def write_batch(
    conn: psycopg.Connection,
    tables: Iterable[tuple[Table, list[Row]]],
    offsets: dict[OffsetKey, int],
    *,
    targets: dict[str, str] | None = None,
    path: WritePath = WRITE_PATH,
    notify: str | None = None,
) -> dict[str, int]:
    """Every table's rows and the offsets in one transaction; rows changed per table.

    `notify` names a channel told (at commit) that rows changed: the API's poller wakes on it.
    Raises a `ROW_ERRORS` error when a row breaks a constraint (nothing is then written);
    `write_isolating` finds the culprits."""
    targets = targets or {}
    changed: dict[str, int] = {}
    with conn.transaction(), conn.cursor() as cur:
        for table, rows in tables:
            changed[table.name] = upsert_rows(
                cur, table, rows, targets.get(table.name, table.name), path
            )
        store_offsets(cur, offsets)
        tell(cur, notify, changed)
    return changed


def tell(cur: psycopg.Cursor[Any], channel: str | None, changed: dict[str, int]) -> None:
    """NOTIFY is delivered when the transaction commits, and only then: a reader woken by it
    sees the rows."""
    if channel and any(changed.values()):
        cur.execute("SELECT pg_notify(%s, '')", [channel])


def write_isolating(
    conn: psycopg.Connection,
    tables: Iterable[tuple[Table, list[Row]]],
    offsets: dict[OffsetKey, int],
    *,
    targets: dict[str, str] | None = None,
    on_refused: Callable[[list[tuple[Table, Row, str]]], None] | None = None,
    notify: str | None = None,
) -> tuple[dict[str, int], list[tuple[Table, Row, str]]]:
    """The slow path after a constraint error: each row in its own savepoint, so the good rows
    and the offsets still commit together; returns the rows refused, with the reason.

    `on_refused` runs before the commit (it dead-letters them): if it fails, nothing commits."""
    targets = targets or {}
    changed: dict[str, int] = {}
    refused: list[tuple[Table, Row, str]] = []
    with conn.transaction(), conn.cursor() as cur:
        for table, rows in tables:
            target = targets.get(table.name, table.name)
            statement = sql.upsert_values(table, target)
            for row in rows:
                try:
                    with conn.transaction():
                        cur.execute(statement, adapt(table, row))
                        changed[table.name] = changed.get(table.name, 0) + max(cur.rowcount, 0)
                except ROW_ERRORS as exc:
                    refused.append((table, row, f"{type(exc).__name__}: {exc}".strip()))
        if refused and on_refused is not None:
            on_refused(refused)
        store_offsets(cur, offsets)
        tell(cur, notify, changed)
    if refused:
        log.warning("%d row(s) refused by Postgres constraints, sent to the DLQ", len(refused))
    return changed, refused
