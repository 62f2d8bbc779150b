"""The SQL the API runs against the read models, and the rows turned into response models.

Query text is built here from fixed fragments with bound parameters only, so it can be unit
tested without a database; the routes only execute it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from transitstream.serve.errors import ApiError
from transitstream.serve.models import Anomaly, Arrival, Vehicle
from transitstream.serve.reference import Reference

Row = dict[str, Any]

VEHICLE_COLUMNS = (
    "vehicle_id, route_id, route_name, trip_id, lat, lon, bearing, speed, delay_s, "
    "next_stop_id, next_stop_sequence, event_time, stale, revision"
)
ETA_COLUMNS = (
    "vehicle_id, trip_id, stop_sequence, stop_id, route_id, predicted_time, prediction_time, "
    "horizon_s, scheduled_time, model, revision"
)
ANOMALY_COLUMNS = (
    "anomaly_id, kind, state, severity, vehicle_id, trip_id, route_id, opened_at, closed_at, "
    "event_time, lat, lon, evidence, revision"
)


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any]


def eta_query(
    stop_ids: list[str],
    now: datetime,
    grace_s: float,
    max_age_s: float,
    limit: int,
    route_id: str | None = None,
) -> Query:
    """The next `limit` arrivals at each stop, soonest first: one query for one stop or many.

    A passed arrival (beyond the grace) and a prediction nobody refreshed for `max_age_s` (its
    vehicle went silent) are left out: riders must not wait for a bus that is not coming.
    """
    route = "AND route_id = %(route_id)s" if route_id else ""
    sql = f"""
        SELECT {ETA_COLUMNS} FROM (
            SELECT *, row_number() OVER (PARTITION BY stop_id ORDER BY predicted_time) AS n
            FROM stop_eta
            WHERE stop_id = ANY(%(stop_ids)s)
              AND predicted_time >= %(since)s
              AND prediction_time >= %(fresh_after)s
              {route}
        ) ranked
        WHERE n <= %(limit)s
        ORDER BY stop_id, predicted_time, vehicle_id
    """
    params = {
        "stop_ids": stop_ids,
        "since": now - timedelta(seconds=grace_s),
        "fresh_after": now - timedelta(seconds=max_age_s),
        "limit": limit,
        "route_id": route_id,
    }
    return Query(sql, params)


def vehicles_query(
    now: datetime,
    stale_after_s: float,
    limit: int,
    after: str | None = None,
    route_id: str | None = None,
    stale: bool | None = None,
) -> Query:
    """A page of vehicles in id order (keyset pagination: stable while rows change)."""
    where = ["TRUE"]
    if after is not None:
        where.append("vehicle_id > %(after)s")
    if route_id is not None:
        where.append("route_id = %(route_id)s")
    if stale is True:
        where.append("(stale OR event_time < %(stale_before)s)")
    elif stale is False:
        where.append("NOT stale AND event_time >= %(stale_before)s")
    sql = (
        f"SELECT {VEHICLE_COLUMNS} FROM vehicle_state WHERE {' AND '.join(where)} "
        "ORDER BY vehicle_id LIMIT %(limit)s"
    )
    params = {
        "after": after,
        "route_id": route_id,
        "stale_before": now - timedelta(seconds=stale_after_s),
        "limit": limit + 1,  # one more tells whether there is a next page
    }
    return Query(sql, params)


VEHICLE_BY_ID = f"SELECT {VEHICLE_COLUMNS} FROM vehicle_state WHERE vehicle_id = %(vehicle_id)s"
OPEN_ANOMALIES = (
    f"SELECT {ANOMALY_COLUMNS} FROM vehicle_anomaly "
    "WHERE vehicle_id = ANY(%(vehicle_ids)s) AND state = 'open' ORDER BY opened_at"
)


def encode_cursor(vehicle_id: str) -> str:
    return base64.urlsafe_b64encode(vehicle_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The vehicle id a cursor carries; 422 for anything this API did not give out.

    `b64decode` raises a plain ValueError (not binascii.Error) for non-ASCII text, and a cursor
    that decodes to a NUL would reach Postgres, which refuses NUL in text: both were 500s.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return sql_text("cursor", base64.b64decode(padded, altchars=b"-_", validate=True).decode())
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
        raise ApiError(
            422, "invalid_request", "cursor: not one this API gave; pass `next_cursor` unchanged"
        ) from None


def sql_text(field: str, value: str) -> str:
    """`value`, if Postgres can compare it: text there cannot hold NUL (psycopg raises DataError,
    a 500), and no id in the read models has one, so such input is a malformed request."""
    if "\x00" in value:
        raise ApiError(422, "invalid_request", f"{field}: contains a NUL character; send an id")
    return value


def is_stale(row: Row, now: datetime, stale_after_s: float) -> bool:
    return stale_by(bool(row["stale"]), (now - row["event_time"]).total_seconds(), stale_after_s)


def stale_by(flagged: bool, age_s: float, stale_after_s: float) -> bool:
    """The projector's flag, or silence: a vehicle whose last fix is old is stale whatever the
    flag says (the projector only flags what it sees, and a silent vehicle sends nothing)."""
    return flagged or age_s > stale_after_s


def vehicle_model(row: Row, now: datetime, stale_after_s: float, ref: Reference) -> Vehicle:
    return Vehicle(
        vehicle_id=row["vehicle_id"],
        route_id=row["route_id"],
        route_name=row["route_name"] or ref.route_name(row["route_id"]),
        trip_id=row["trip_id"],
        headsign=ref.headsign(row["trip_id"]),
        lat=row["lat"],
        lon=row["lon"],
        bearing=row["bearing"],
        speed=row["speed"],
        delay_s=row["delay_s"],
        next_stop_id=row["next_stop_id"],
        next_stop_name=ref.stop_name(row["next_stop_id"]),
        next_stop_sequence=row["next_stop_sequence"],
        last_seen=row["event_time"],
        age_s=round((now - row["event_time"]).total_seconds(), 1),
        stale=is_stale(row, now, stale_after_s),
        revision=row["revision"],
    )


def arrival_model(row: Row, now: datetime, ref: Reference) -> Arrival:
    predicted: datetime = row["predicted_time"]
    scheduled: datetime | None = row["scheduled_time"]
    return Arrival(
        vehicle_id=row["vehicle_id"],
        trip_id=row["trip_id"],
        route_id=row["route_id"],
        route_name=ref.route_name(row["route_id"]) or row["route_id"],
        headsign=ref.headsign(row["trip_id"]),
        stop_id=row["stop_id"],
        stop_sequence=row["stop_sequence"],
        predicted_time=predicted,
        seconds_away=round((predicted - now).total_seconds()),
        scheduled_time=scheduled,
        delay_s=round((predicted - scheduled).total_seconds()) if scheduled else None,
        prediction_time=row["prediction_time"],
        prediction_age_s=round((now - row["prediction_time"]).total_seconds(), 1),
        horizon_s=row["horizon_s"],
        model=row["model"],
    )


def anomaly_model(row: Row) -> Anomaly:
    return Anomaly.model_validate({k: v for k, v in row.items() if k != "revision"})


def arrivals_by_stop(rows: list[Row], now: datetime, ref: Reference) -> dict[str, list[Arrival]]:
    out: dict[str, list[Arrival]] = {}
    for row in rows:
        out.setdefault(row["stop_id"], []).append(arrival_model(row, now, ref))
    return out
