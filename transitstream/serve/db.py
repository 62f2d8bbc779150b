"""The API's Postgres pool: created closed, opened in the lifespan, never at import time."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from transitstream.config import Settings
from transitstream.serve.queries import Query, Row


def make_pool(settings: Settings) -> AsyncConnectionPool:
    """A pool that does not connect yet; `await pool.open()` in the lifespan does.

    min_size 1 keeps one warm connection; requests wait at most 5 s for one, then 503.
    """
    return AsyncConnectionPool(
        settings.postgres.conninfo(),
        min_size=1,
        max_size=settings.api.pool_size,
        open=False,
        timeout=5.0,
        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5},
        name="serve",
    )


async def fetch(pool: AsyncConnectionPool, query: Query | str, params: Any = None) -> list[Row]:
    sql, args = (query.sql, query.params) if isinstance(query, Query) else (query, params)
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, args)
        return await cur.fetchall()
