"""Postgres from the Debian binaries, as a private cluster under the state folder.

`initdb` and `postgres` refuse to run as root, so when we are root they run as the `postgres`
user (Popen's `user=`), and the cluster folder is handed to that user.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from transitstream.config import Settings
from transitstream.db.migrate import migrate
from transitstream.errors import InfraError
from transitstream.infra.component import Component, Launch, Port
from transitstream.infra.process import as_user

SUPERUSER = "postgres"
log = logging.getLogger(__name__)


def home(settings: Settings) -> Path:
    return settings.state_dir / "postgres"


def data_dir(settings: Settings) -> Path:
    return home(settings) / "data"


def socket_dir(settings: Settings) -> Path:
    return home(settings) / "run"


def bin_dir(settings: Settings) -> Path:
    """Settings.postgres.bin_dir, else the newest Debian cluster binaries, else PATH."""
    if settings.postgres.bin_dir:
        return settings.postgres.bin_dir
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise InfraError(
        "the Postgres server binaries are not installed: run `make setup` as root, or "
        "`sudo apt-get install postgresql`, or set TRANSITSTREAM_POSTGRES__BIN_DIR."
    )


def run_as() -> str | None:
    return SUPERUSER if os.geteuid() == 0 else None


def _hand_over(path: Path) -> None:
    """As root, give the cluster folder to `postgres`, and let that user pass through its parents.

    Passage (o+x) lets the user reach a path it knows, never list a folder; without it a checkout
    under a private folder (a 0700 temp dir, say) could not host the cluster.
    """
    if os.geteuid() != 0:
        return
    for sub in [path, *path.rglob("*")]:
        shutil.chown(sub, SUPERUSER, SUPERUSER)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & stat.S_IXOTH == 0:
            log.warning("letting the postgres user pass through %s (chmod o+x)", parent)
            parent.chmod(mode | stat.S_IXOTH)


def prepare(settings: Settings) -> None:
    home(settings).mkdir(parents=True, exist_ok=True)
    socket_dir(settings).mkdir(parents=True, exist_ok=True)
    if (data_dir(settings) / "PG_VERSION").exists():
        _hand_over(socket_dir(settings))
        return
    data_dir(settings).mkdir(parents=True, exist_ok=True)
    _hand_over(home(settings))
    done = subprocess.run(
        [
            str(bin_dir(settings) / "initdb"),
            "-D",
            str(data_dir(settings)),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
        ],
        capture_output=True,
        text=True,
        **as_user(run_as()),
    )
    if done.returncode != 0:
        raise InfraError(f"initdb failed in {data_dir(settings)}:\n{done.stdout}{done.stderr}")


def launch(settings: Settings) -> Launch:
    p = settings.postgres
    return Launch(
        argv=[
            str(bin_dir(settings) / "postgres"),
            "-D",
            str(data_dir(settings)),
            "-p",
            str(p.port),
            "-c",
            f"listen_addresses={p.host}",
            "-c",
            f"unix_socket_directories={socket_dir(settings)}",
            "-c",
            f"shared_buffers={p.shared_buffers}",
            "-c",
            "max_connections=100",
            "-c",
            "logging_collector=off",
        ],
        user=run_as(),
    )


def admin_connect(settings: Settings, dbname: str = "postgres") -> psycopg.Connection:
    """Superuser over the private Unix socket (trust auth): only the stack's owner can reach it."""
    return psycopg.connect(
        host=str(socket_dir(settings)),
        port=settings.postgres.port,
        user=SUPERUSER,
        dbname=dbname,
        autocommit=True,
        connect_timeout=3,
    )


def ready(settings: Settings) -> bool:
    with admin_connect(settings) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def bootstrap(settings: Settings) -> list[str]:
    """Create the application role and database if missing, then apply migrations."""
    p = settings.postgres
    notes = []
    with admin_connect(settings) as conn:
        role_exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [p.user]).fetchone()
        verb = "ALTER" if role_exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(p.user), sql.Literal(p.password.get_secret_value())
            )
        )
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [p.database]
        ).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(p.database), sql.Identifier(p.user)
                )
            )
            notes.append(f"created database {p.database}")
    applied = migrate(settings)
    if applied:
        notes.append("applied migrations: " + ", ".join(applied))
    return notes


COMPONENT = Component(
    name="postgres",
    title=lambda s: f"PostgreSQL {bin_dir(s).parent.name}",
    marker=lambda s: str(data_dir(s)),
    ports=lambda s: [Port(s.postgres.host, s.postgres.port, "TRANSITSTREAM_POSTGRES__PORT")],
    prepare=prepare,
    launch=launch,
    ready=ready,
    endpoint=lambda s: s.postgres.masked_conninfo(),
    after_ready=bootstrap,
    stop_signal=signal.SIGINT,  # "fast" shutdown: SIGTERM would wait for every client to leave
)
