"""Write records straight into the read models, without Kafka: for tests of what reads them
(the API's WebSocket deltas), benchmarks and tools. Same rows, same rules as the projectors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg

from transitstream.project import writer
from transitstream.project.batch import Batch
from transitstream.project.tables import TABLES, Row


def write_records(
    conn: psycopg.Connection,
    records: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    path: writer.WritePath = writer.WRITE_PATH,
    notify: str | None = None,
) -> dict[str, int]:
    """`records` maps a projector (vehicles, etas, anomalies) to decoded records shaped like
    its topic's Avro schema (vehicle.enriched.v1, stop.eta.v1, vehicle.anomaly.v1). They are
    coalesced and upserted in one transaction (no offsets stored); returns rows changed.
    `notify`: the channel to wake the API's poller on (Settings.project.notify_channel)."""
    rows = {name: [TABLES[name].to_row(v) for v in values] for name, values in records.items()}
    return write_rows(conn, rows, path=path, notify=notify)


def write_rows(
    conn: psycopg.Connection,
    rows: Mapping[str, Iterable[Row]],
    *,
    path: writer.WritePath = writer.WRITE_PATH,
    notify: str | None = None,
) -> dict[str, int]:
    """`write_records` for rows already in each table's column order (`serve.sample` builds
    them): folded per key with the table's merge rule, as a projector's batch is."""
    batch = Batch()
    for name, table_rows in rows.items():
        table = TABLES[name]
        for row in table_rows:
            batch.add_row(table, row)
    tables = [(batch.tables[n], r) for n, r in batch.row_lists().items()]
    return writer.write_batch(conn, tables, {}, path=path, notify=notify)
