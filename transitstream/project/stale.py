"""Stale data out of the read models: passed ETAs go, silent vehicles are flagged.

An ETA is stale once its predicted time is more than `eta_grace_s` ago, or once its vehicle has
moved past the stop (a later `next_stop_sequence` on the same trip), or has started another trip
since the prediction. A vehicle not heard from for `stale_after_s` is `stale = true` (its upsert
sets it back to false when it reports again).

`now` is a parameter: the projector passes the wall clock, tests and rebuilds pass a fixed time
(simulated event times sit near wall-clock now, so a real clock would make results drift).
Each change draws a new revision, so the API pushes the removal or the flag: a deleted ETA has
no row left to carry one, so its stop is logged in `stop_eta_removed` with its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from transitstream.config import Settings

DELETE_ETAS = """
WITH gone AS (
    DELETE FROM {eta} AS e
    WHERE e.predicted_time < %(eta_cutoff)s
       OR EXISTS (
            SELECT 1 FROM {vehicle} AS v
            WHERE v.vehicle_id = e.vehicle_id
              AND (
                    (v.trip_id = e.trip_id AND e.stop_sequence < v.next_stop_sequence)
                 OR (v.trip_id <> e.trip_id AND v.event_time >= e.prediction_time)
              )
       )
    RETURNING e.stop_id
), logged AS (
    INSERT INTO stop_eta_removed (stop_id) SELECT DISTINCT stop_id FROM gone RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM logged)
"""
PRUNE_REMOVED = "DELETE FROM stop_eta_removed WHERE removed_at < now() - interval '1 hour'"
FLAG_VEHICLES = """
UPDATE {vehicle}
SET stale = (event_time < %(vehicle_cutoff)s), updated_at = now(),
    revision = nextval('read_model_revision')
WHERE stale IS DISTINCT FROM (event_time < %(vehicle_cutoff)s)
"""


def sweep(
    conn: psycopg.Connection,
    settings: Settings,
    now: datetime,
    targets: dict[str, str] | None = None,
) -> tuple[int, int]:
    """Delete stale ETAs and (un)flag stale vehicles as of `now`, in one transaction.

    Returns (ETAs deleted, vehicles now stale). `targets` maps live table names to others
    (the rebuild's shadow tables)."""
    targets = targets or {}
    names = {
        "eta": sql.Identifier(targets.get("stop_eta", "stop_eta")),
        "vehicle": sql.Identifier(targets.get("vehicle_state", "vehicle_state")),
    }
    params = {
        "eta_cutoff": now - timedelta(seconds=settings.project.eta_grace_s),
        "vehicle_cutoff": now - timedelta(seconds=settings.project.stale_after_s),
    }
    with conn.transaction(), conn.cursor() as cur:
        counts = cur.execute(sql.SQL(DELETE_ETAS).format(**names), params).fetchone()
        deleted = int(counts[0]) if counts else 0
        cur.execute(PRUNE_REMOVED)
        cur.execute(sql.SQL(FLAG_VEHICLES).format(**names), params)
        flagged = max(cur.rowcount, 0)
        if not targets and (deleted or flagged):  # live tables: wake the API's poller
            cur.execute("SELECT pg_notify(%s, '')", [settings.project.notify_channel])
        stale = cur.execute(
            sql.SQL("SELECT count(*) FROM {vehicle} WHERE stale").format(**names)
        ).fetchone()
    return deleted, int(stale[0]) if stale else 0
