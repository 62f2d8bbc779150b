"""An order-independent digest of each read model over its business columns.

Two projections of the same log (live, and a rebuild from offset 0) must hold the same rows,
whatever order or batching wrote them. Bookkeeping columns differ by design and are left out:
`updated_at`, `revision` (when and in which order a row was written) and `stale` (a function of
the clock). Postgres hashes each row's text (in UTC, so the session's time zone cannot matter);
`combine` folds the row hashes after sorting them, so row order is irrelevant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import psycopg
from psycopg import sql

from transitstream.project.tables import Table, select


def combine(row_hashes: Iterable[str]) -> str:
    """sha256 over the sorted row hashes: equal multisets of rows give equal digests."""
    h = hashlib.sha256()
    for row_hash in sorted(row_hashes):
        h.update(row_hash.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def row_hashes_query(table: Table, target: str, prefix: str | None) -> sql.Composed:
    columns = table.columns  # not updated_at, revision, stale: when, not what
    where = sql.SQL("WHERE vehicle_id LIKE %s") if prefix else sql.SQL("")
    return sql.SQL("SELECT md5(ROW({cols})::text) FROM {t} {where}").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
        t=sql.Identifier(target),
        where=where,
    )


def table_checksums(
    conn: psycopg.Connection,
    names: str | list[str] | None = "all",
    *,
    prefix: str | None = None,
    targets: dict[str, str] | None = None,
) -> dict[str, tuple[int, str]]:
    """table -> (rows, digest); `prefix` keeps vehicles whose id starts with it (one fleet of a
    shared stack); `targets` reads other tables (a rebuild's shadows) under the live names."""
    targets = targets or {}
    out: dict[str, tuple[int, str]] = {}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL TIME ZONE 'UTC'")
        cur.execute("SET LOCAL extra_float_digits = 1")  # shortest exact text for floats
        for table in select(names):
            params = [prefix.replace("%", r"\%").replace("_", r"\_") + "%"] if prefix else []
            query = row_hashes_query(table, targets.get(table.name, table.name), prefix)
            hashes = [r[0] for r in cur.execute(query, params or None).fetchall()]
            out[table.name] = (len(hashes), combine(hashes))
    return out
