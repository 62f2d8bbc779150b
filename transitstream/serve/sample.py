"""Write read-model rows as the projectors write them: `transitstream.project.writer.write_batch`.

SAMPLE DATA ONLY: tests, the notebook and the benchmark use it to put known rows in front of the
API. The real rows come from the projectors (`transitstream.project`), fed by the stream job.
The rows take the projectors' own path, so they obey the projectors' rules: a batch is folded
per key with each table's merge rule, an upsert replaces a row only with a strictly newer event
(a tie keeps the row already there), every write takes `nextval('read_model_revision')`, and the
commit NOTIFYs the API's poller. Anomalies are given as the stream's records (`state` open,
closed or instant; `opened_at` and `closed_at` are derived as the projector derives them, and a
closed anomaly never reopens). `stale` is not written: the projector's sweep
(`transitstream.project.stale.sweep`) flags silent vehicles, and an upsert clears the flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg import sql

from transitstream.config import Settings
from transitstream.db.migrate import connect
from transitstream.project import direct
from transitstream.project.tables import (
    ANOMALIES,
    ANOMALY_COLUMNS,
    ETAS,
    VEHICLES,
    anomaly_row,
)

Row = dict[str, Any]

VEHICLE_DEFAULTS: Row = {c: None for c in VEHICLES.columns}
ETA_DEFAULTS: Row = {c: None for c in ETAS.columns} | {"horizon_s": 0, "model": "sample"}
ANOMALY_FIELDS = tuple(c for c in ANOMALY_COLUMNS if c not in ("opened_at", "closed_at"))
ANOMALY_DEFAULTS: Row = {c: None for c in ANOMALY_FIELDS} | {"severity": "warning", "evidence": {}}


def _check(kind: str, row: Row, allowed: Iterable[str]) -> None:
    unknown = sorted(set(row) - set(allowed))
    if unknown:
        hint = (
            " (`stale` is set by transitstream.project.stale.sweep, as in production)"
            if "stale" in unknown
            else ""
        )
        raise ValueError(f"sample {kind} row has no column(s) {', '.join(unknown)}{hint}")


def _vehicle(row: Row) -> tuple[Any, ...]:
    _check("vehicle", row, VEHICLES.columns)
    r = VEHICLE_DEFAULTS | row
    if r["event_id"] is None:
        r["event_id"] = f"sample-{r['vehicle_id']}-{r['event_time'].timestamp():.3f}"
    return tuple(r[c] for c in VEHICLES.columns)


def _eta(row: Row) -> tuple[Any, ...]:
    _check("ETA", row, ETAS.columns)
    r = ETA_DEFAULTS | row
    return tuple(r[c] for c in ETAS.columns)


def _anomaly(row: Row) -> tuple[Any, ...]:
    _check("anomaly", row, ANOMALY_FIELDS)
    return anomaly_row(ANOMALY_DEFAULTS | row)


def write_rows(
    settings: Settings,
    vehicles: Iterable[Row] = (),
    etas: Iterable[Row] = (),
    anomalies: Iterable[Row] = (),
) -> int:
    """Upsert rows in one transaction through the projectors' writer; returns rows changed
    (a row that is not newer than the one stored changes nothing)."""
    rows = {
        VEHICLES.projector: map(_vehicle, vehicles),
        ETAS.projector: map(_eta, etas),
        ANOMALIES.projector: map(_anomaly, anomalies),
    }
    with connect(settings) as conn:
        changed = direct.write_rows(conn, rows, notify=settings.project.notify_channel)
    return sum(changed.values())


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
