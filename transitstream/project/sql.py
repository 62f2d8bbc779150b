"""The upserts, built with `psycopg.sql` so the same statement serves the live table and its
rebuild shadow. Every write sets `revision = nextval('read_model_revision')` and `updated_at`:
the API pushes WebSocket deltas by `revision > N`, so a row changed without a new revision would
never reach a client.

The WHERE clauses make an upsert change a row only for newer information; replays, duplicates
and out-of-order records are then harmless (ARCHITECTURE.md section 5), and an unchanged row
keeps its revision (no spurious pushes).
"""

from __future__ import annotations

from psycopg import sql

from transitstream.project.tables import ANOMALIES, VEHICLES, Table

REVISION = sql.SQL("nextval('read_model_revision')")
ANOMALY_LATEST = ("kind", "severity", "vehicle_id", "trip_id", "route_id", "lat", "lon", "evidence")


def _cols(names: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, names))


def _set_clause(table: Table) -> sql.Composable:
    """What ON CONFLICT DO UPDATE sets, and when (the WHERE)."""
    ex, cur = sql.Identifier("excluded"), sql.Identifier("cur")
    sets: list[sql.Composable]
    where: sql.Composable
    if table is ANOMALIES:
        newer = sql.SQL("excluded.event_time > cur.event_time")
        sets = [
            sql.SQL("{c} = CASE WHEN {newer} THEN {ex}.{c} ELSE {cur}.{c} END").format(
                c=sql.Identifier(c), newer=newer, ex=ex, cur=cur
            )
            for c in ANOMALY_LATEST
        ]
        sets += [
            sql.SQL(
                "state = CASE WHEN cur.state IN ('closed', 'instant') THEN cur.state"
                " ELSE excluded.state END"
            ),
            sql.SQL("opened_at = LEAST(cur.opened_at, excluded.opened_at)"),
            sql.SQL("closed_at = COALESCE(cur.closed_at, excluded.closed_at)"),
            sql.SQL("event_time = GREATEST(cur.event_time, excluded.event_time)"),
        ]
        where = sql.SQL(
            "excluded.event_time > cur.event_time OR excluded.opened_at < cur.opened_at"
            " OR (cur.state = 'open' AND excluded.state <> 'open')"
            " OR (cur.closed_at IS NULL AND excluded.closed_at IS NOT NULL)"
        )
    else:
        sets = [
            sql.SQL("{c} = {ex}.{c}").format(c=sql.Identifier(c), ex=ex)
            for c in table.columns
            if c not in table.key
        ]
        if table is VEHICLES:
            sets.append(sql.SQL("stale = false"))  # it reports again
        where = sql.SQL("{ex}.{o} > {cur}.{o}").format(
            ex=ex, cur=cur, o=sql.Identifier(table.order)
        )
    sets += [sql.SQL("updated_at = now()"), sql.SQL("revision = {}").format(REVISION)]
    return sql.SQL("DO UPDATE SET {sets} WHERE {where}").format(
        sets=sql.SQL(", ").join(sets), where=where
    )


def upsert(table: Table, target: str, source: sql.Composable) -> sql.Composed:
    """INSERT INTO target AS cur (cols) <source> ON CONFLICT (key) DO UPDATE ... WHERE newer."""
    return sql.SQL("INSERT INTO {t} AS cur ({cols}) {source} ON CONFLICT ({key}) {set}").format(
        t=sql.Identifier(target),
        cols=_cols(table.columns),
        source=source,
        key=_cols(table.key),
        set=_set_clause(table),
    )


def upsert_values(table: Table, target: str) -> sql.Composed:
    """One row per execution (executemany, or the naive one-statement-per-event path)."""
    values = sql.SQL("VALUES ({})").format(
        sql.SQL(", ").join(sql.Placeholder() for _ in table.columns)
    )
    return upsert(table, target, values)


def stage_name(table: Table) -> str:
    return f"stage_{table.name}"


def create_stage(table: Table) -> sql.Composed:
    """A session-local staging table with the business columns only (no defaults, so staged rows
    draw no sequence values); emptied at every commit."""
    return sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS"
        " SELECT {cols} FROM {live} WITH NO DATA"
    ).format(
        stage=sql.Identifier(stage_name(table)),
        cols=_cols(table.columns),
        live=sql.Identifier(table.name),
    )


def copy_stage(table: Table) -> sql.Composed:
    return sql.SQL("COPY {stage} ({cols}) FROM STDIN").format(
        stage=sql.Identifier(stage_name(table)), cols=_cols(table.columns)
    )


def upsert_from_stage(table: Table, target: str) -> sql.Composed:
    select = sql.SQL("SELECT {cols} FROM {stage}").format(
        cols=_cols(table.columns), stage=sql.Identifier(stage_name(table))
    )
    return upsert(table, target, select)


STORE_OFFSETS = sql.SQL(
    "INSERT INTO projector_offsets (projector, topic, partition, next_offset)"
    " VALUES (%s, %s, %s, %s) ON CONFLICT (projector, topic, partition)"
    " DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()"
)
LOAD_OFFSETS = sql.SQL(
    "SELECT topic, partition, next_offset FROM projector_offsets WHERE projector = %s"
)
