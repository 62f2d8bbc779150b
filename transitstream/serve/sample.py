"""Write read-model rows the way a projector does: upserts that take the next revision.

SAMPLE DATA ONLY: tests, the notebook and the benchmark use it to put known rows in front of the
API. The real rows come from the projectors (`transitstream.project`), fed by the stream job.
Like a projector, an upsert only replaces a row with a newer event, and every write takes
`nextval('read_model_revision')`, which is what the WebSocket poller watches.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from transitstream.config import Settings
from transitstream.db.migrate import connect

Row = dict[str, Any]

VEHICLE_UPSERT = """
INSERT INTO vehicle_state (vehicle_id, route_id, route_name, trip_id, lat, lon, bearing, speed,
    distance_along_m, offset_m, delay_s, next_stop_id, next_stop_sequence, event_id, event_time,
    stale)
VALUES (%(vehicle_id)s, %(route_id)s, %(route_name)s, %(trip_id)s, %(lat)s, %(lon)s,
    %(bearing)s, %(speed)s, %(distance_along_m)s, %(offset_m)s, %(delay_s)s, %(next_stop_id)s,
    %(next_stop_sequence)s, %(event_id)s, %(event_time)s, %(stale)s)
ON CONFLICT (vehicle_id) DO UPDATE SET
    route_id = excluded.route_id, route_name = excluded.route_name, trip_id = excluded.trip_id,
    lat = excluded.lat, lon = excluded.lon, bearing = excluded.bearing, speed = excluded.speed,
    distance_along_m = excluded.distance_along_m, offset_m = excluded.offset_m,
    delay_s = excluded.delay_s, next_stop_id = excluded.next_stop_id,
    next_stop_sequence = excluded.next_stop_sequence, event_id = excluded.event_id,
    event_time = excluded.event_time, stale = excluded.stale, updated_at = now(),
    revision = nextval('read_model_revision')
WHERE excluded.event_time >= vehicle_state.event_time
"""

ETA_UPSERT = """
INSERT INTO stop_eta (vehicle_id, trip_id, stop_sequence, stop_id, route_id, predicted_time,
    prediction_time, horizon_s, scheduled_time, model)
VALUES (%(vehicle_id)s, %(trip_id)s, %(stop_sequence)s, %(stop_id)s, %(route_id)s,
    %(predicted_time)s, %(prediction_time)s, %(horizon_s)s, %(scheduled_time)s, %(model)s)
ON CONFLICT (vehicle_id, trip_id, stop_sequence) DO UPDATE SET
    stop_id = excluded.stop_id, route_id = excluded.route_id,
    predicted_time = excluded.predicted_time, prediction_time = excluded.prediction_time,
    horizon_s = excluded.horizon_s, scheduled_time = excluded.scheduled_time,
    model = excluded.model, updated_at = now(), revision = nextval('read_model_revision')
WHERE excluded.prediction_time >= stop_eta.prediction_time
"""

ANOMALY_UPSERT = """
INSERT INTO vehicle_anomaly (anomaly_id, kind, state, severity, vehicle_id, trip_id, route_id,
    opened_at, closed_at, event_time, lat, lon, evidence)
VALUES (%(anomaly_id)s, %(kind)s, %(state)s, %(severity)s, %(vehicle_id)s, %(trip_id)s,
    %(route_id)s, %(opened_at)s, %(closed_at)s, %(event_time)s, %(lat)s, %(lon)s, %(evidence)s)
ON CONFLICT (anomaly_id) DO UPDATE SET
    state = excluded.state, severity = excluded.severity, closed_at = excluded.closed_at,
    event_time = excluded.event_time, lat = excluded.lat, lon = excluded.lon,
    evidence = excluded.evidence, updated_at = now(), revision = nextval('read_model_revision')
WHERE excluded.event_time >= vehicle_anomaly.event_time
"""

VEHICLE_DEFAULTS: Row = {
    "route_name": None, "trip_id": None, "bearing": None, "speed": None,
    "distance_along_m": None, "offset_m": None, "delay_s": None, "next_stop_id": None,
    "next_stop_sequence": None, "stale": False,
}  # fmt: skip
ETA_DEFAULTS: Row = {"horizon_s": 0, "scheduled_time": None, "model": "sample"}
ANOMALY_DEFAULTS: Row = {
    "severity": "warning", "trip_id": None, "route_id": None, "closed_at": None,
    "lat": None, "lon": None, "evidence": {},
}  # fmt: skip


def _write(conn: psycopg.Connection, upsert: str, defaults: Row, rows: Iterable[Row]) -> int:
    batch = [{**defaults, **r} for r in rows]
    for r in batch:
        if isinstance(r.get("evidence"), dict):
            r["evidence"] = json.dumps(r["evidence"])
        if "event_id" in upsert and "event_id" not in r:
            r["event_id"] = f"sample-{r['vehicle_id']}-{r['event_time'].timestamp():.3f}"
    with conn.cursor() as cur:
        cur.executemany(upsert, batch)
    return len(batch)


def write_rows(
    settings: Settings,
    vehicles: Iterable[Row] = (),
    etas: Iterable[Row] = (),
    anomalies: Iterable[Row] = (),
) -> int:
    """Upsert rows in one transaction, as a projector's batch would; returns rows written."""
    with connect(settings) as conn, conn.transaction():
        written = (
            _write(conn, VEHICLE_UPSERT, VEHICLE_DEFAULTS, vehicles)
            + _write(conn, ETA_UPSERT, ETA_DEFAULTS, etas)
            + _write(conn, ANOMALY_UPSERT, ANOMALY_DEFAULTS, anomalies)
        )
        conn.execute("SELECT pg_notify(%s, '')", [settings.project.notify_channel])
        return written


def delete_vehicles(settings: Settings, prefix: str) -> None:
    """Remove the sample rows of vehicles whose id starts with `prefix`."""
    like = prefix.replace("%", r"\%").replace("_", r"\_") + "%"
    with connect(settings) as conn, conn.transaction():
        for table in ("stop_eta", "vehicle_anomaly", "vehicle_state"):
            query = sql.SQL("DELETE FROM {} WHERE vehicle_id LIKE %s").format(sql.Identifier(table))
            conn.execute(query, [like])


def trip_arrivals(
    settings: Settings, vehicle_id: str, trip_id: str, first: datetime, every_s: float = 90.0
) -> list[Row]:
    """ETA rows for a trip's stops from its first stop on, `every_s` apart: plausible samples."""
    from datetime import timedelta

    from transitstream.gtfs import load_feed

    feed = load_feed(settings.gtfs_path)
    route_id = feed.trips[trip_id].route_id
    return [
        {
            "vehicle_id": vehicle_id,
            "trip_id": trip_id,
            "stop_sequence": st.stop_sequence,
            "stop_id": st.stop_id,
            "route_id": route_id,
            "predicted_time": first + timedelta(seconds=i * every_s),
            "prediction_time": first - timedelta(seconds=5),
            "horizon_s": int(i * every_s + 5),
            "scheduled_time": first + timedelta(seconds=i * every_s - 60),
        }
        for i, st in enumerate(feed.stop_times[trip_id])
    ]
