"""The statements and the checksum, without a server: every write draws a new revision, rows
change only for newer records, and the digest ignores order but not content."""

from __future__ import annotations

import random

from psycopg import sql as psql

from transitstream.project import sql
from transitstream.project.checksum import combine, row_hashes_query
from transitstream.project.tables import ANOMALIES, ETAS, TABLES, VEHICLES


def text(composed: psql.Composable) -> str:
    """Render without a connection (identifiers quoted as Postgres would)."""
    return composed.as_string(None)


def test_every_upsert_sets_revision_and_updated_at_and_only_for_newer_rows() -> None:
    for table in TABLES.values():
        for statement in (sql.upsert_values(table, table.name), sql.upsert_from_stage(table, "x")):
            s = text(statement)
            assert "revision = nextval('read_model_revision')" in s
            assert "updated_at = now()" in s
            assert "ON CONFLICT" in s and "WHERE" in s.split("DO UPDATE")[1]
    assert '"excluded"."event_time" > "cur"."event_time"' in text(sql.upsert_values(VEHICLES, "v"))
    assert '"excluded"."prediction_time" > "cur"."prediction_time"' in text(
        sql.upsert_values(ETAS, "e")
    )
    anomaly = text(sql.upsert_values(ANOMALIES, "a"))
    assert "CASE WHEN cur.state IN ('closed', 'instant') THEN cur.state" in anomaly
    assert "stale = false" in text(sql.upsert_values(VEHICLES, "v"))


def test_the_shadow_table_is_a_parameter() -> None:
    s = text(sql.upsert_from_stage(VEHICLES, "vehicle_state__rebuild"))
    assert s.startswith('INSERT INTO "vehicle_state__rebuild" AS cur')
    assert 'FROM "stage_vehicle_state"' in s


def test_checksum_ignores_row_order_and_bookkeeping_but_not_content() -> None:
    hashes = [f"{i:032x}" for i in range(100)]
    shuffled = random.Random(1).sample(hashes, len(hashes))
    assert combine(hashes) == combine(shuffled)
    assert combine(hashes) != combine(hashes[:-1])
    assert combine(hashes) != combine([*hashes[:-1], "f" * 32])
    assert combine(hashes) != combine([*hashes, hashes[0]])  # a duplicated row counts
    bookkeeping = ("updated_at", "revision", "stale")  # when a row was written, not what
    for table in TABLES.values():
        q = text(row_hashes_query(table, table.name, None))
        assert all(f'"{c}"' in q for c in table.columns)
        assert not set(table.columns) & set(bookkeeping), table.name
    assert "LIKE" in text(row_hashes_query(VEHICLES, "vehicle_state", "bus-"))
