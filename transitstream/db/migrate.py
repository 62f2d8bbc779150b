"""Versioned SQL migrations, applied in order, each in its own transaction, exactly once.

Files are `db/migrations/NNNN_name.sql`; the applied ones are recorded in `schema_migrations`.
An advisory lock keeps two starters (say `infra up` and `db migrate`) from racing.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from transitstream.config import Settings
from transitstream.errors import InfraError

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_ID = 7_310_001


def migration_files() -> list[Path]:
    files = sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    versions = [f.name[:4] for f in files]
    if len(set(versions)) != len(versions):
        raise InfraError(f"two migrations share a version number in {MIGRATIONS}")
    return files


def connect(settings: Settings) -> psycopg.Connection:
    try:
        return psycopg.connect(settings.postgres.conninfo(), connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise InfraError(
            f"Postgres is not reachable at {settings.postgres.masked_conninfo()} ({exc}): "
            "run `transitstream infra up`."
        ) from exc


def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations; returns the names applied (empty when up to date)."""
    applied_now: list[str] = []
    with connect(settings) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_ID])
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.commit()
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for f in migration_files():
                version = f.name[:4]
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(f.read_text())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        [version, f.stem],
                    )
                applied_now.append(f.stem)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_ID])
            conn.commit()
    return applied_now


def applied_versions(settings: Settings) -> list[str]:
    with connect(settings) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
