"""Shadow tables for a rebuild, and the swap that puts them live in one transaction.

`CREATE TABLE x__rebuild (LIKE x INCLUDING ALL)` copies columns, defaults (the `revision`
default is `nextval` of the shared sequence, which outlives any table), constraints and indexes.
The swap drops the old table, renames the shadow and its indexes to the old names (so a second
rebuild, and anyone reading `pg_indexes`, sees the same names), and replaces the projectors'
offsets, all in one transaction: readers see the old tables until the commit, then the new.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from transitstream.project.tables import Table

SUFFIX = "__rebuild"


def shadow(table: Table) -> str:
    return f"{table.name}{SUFFIX}"


def create_shadows(conn: psycopg.Connection, tables: list[Table]) -> dict[str, str]:
    """Fresh, empty shadows (a rebuild that died halfway left one behind: it is dropped)."""
    with conn.transaction():
        for t in tables:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(shadow(t))))
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                    sql.Identifier(shadow(t)), sql.Identifier(t.name)
                )
            )
    return {t.name: shadow(t) for t in tables}


def drop_shadows(conn: psycopg.Connection, tables: list[Table]) -> None:
    with conn.transaction():
        for t in tables:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(shadow(t))))


def _shape(indexdef: str) -> str:
    """An index definition without its own name and table: what to match old and new by."""
    return re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+", r"CREATE \1INDEX ON", indexdef)


def index_renames(conn: psycopg.Connection, table: Table) -> list[tuple[str, str]]:
    """(shadow index, live index name it should take) pairs, matched by definition."""
    query = (
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename = %s"
    )
    live = {_shape(d): n for n, d in conn.execute(query, [table.name]).fetchall()}
    new = conn.execute(query, [shadow(table)]).fetchall()
    return [(n, live[_shape(d)]) for n, d in new if _shape(d) in live and live[_shape(d)] != n]


def lock_live(conn: psycopg.Connection, tables: list[Table], timeout_s: float = 10.0) -> None:
    """ACCESS EXCLUSIVE on the live tables: a live projector's batch in flight finishes first,
    the next one waits for the swap (so the offsets read next cannot move)."""
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{int(timeout_s)}s")))
    conn.execute(
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(t.name) for t in tables)
        )
    )


def swap_in(
    conn: psycopg.Connection,
    tables: list[Table],
    offsets: dict[tuple[str, str, int], int],
) -> None:
    """Inside the caller's transaction (after `lock_live`): shadows become the live tables and
    the projectors' offsets become the rebuild's."""
    renames = {t.name: index_renames(conn, t) for t in tables}
    for t in tables:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(t.name)))
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(shadow(t)), sql.Identifier(t.name)
            )
        )
        for new, old in renames[t.name]:
            conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier(new), sql.Identifier(old)
                )
            )
    conn.execute(
        "DELETE FROM projector_offsets WHERE projector = ANY(%s) AND topic = ANY(%s)",
        [[t.projector for t in tables], sorted({k[1] for k in offsets})],
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO projector_offsets (projector, topic, partition, next_offset)"
            " VALUES (%s, %s, %s, %s)",
            [(*k, v) for k, v in sorted(offsets.items())],
        )
