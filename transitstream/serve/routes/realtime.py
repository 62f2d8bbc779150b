"""`GET /gtfs-rt/trip-updates` and `GET /gtfs-rt/vehicle-positions`: protobuf, or JSON on ask."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2 as rt

from transitstream.serve import metrics, realtime
from transitstream.serve.db import fetch
from transitstream.serve.deps import NowDep, PoolDep, ReferenceDep, SettingsDep
from transitstream.serve.errors import ERROR_RESPONSES
from transitstream.serve.queries import ETA_COLUMNS, VEHICLE_COLUMNS

router = APIRouter(prefix="/gtfs-rt", tags=["gtfs-realtime"])

PROTOBUF = "application/x-protobuf"
FORMAT = Annotated[
    Literal["protobuf", "json"], Query(description="json: the same feed, readable by people")
]
FRESH_VEHICLES = f"SELECT {VEHICLE_COLUMNS} FROM vehicle_state WHERE event_time >= %(cutoff)s"
FRESH_ETAS = (
    f"SELECT {', '.join('e.' + c.strip() for c in ETA_COLUMNS.split(','))} "
    "FROM stop_eta e JOIN vehicle_state v ON v.vehicle_id = e.vehicle_id "
    "WHERE v.event_time >= %(cutoff)s AND e.predicted_time >= %(since)s"
)
RESPONSES = {**ERROR_RESPONSES, 200: {"content": {PROTOBUF: {}, "application/json": {}}}}


def _count(feed: str, omitted: Counter[str]) -> None:
    for kind, n in omitted.items():
        metrics.REALTIME_OMITTED.labels(feed, kind).inc(n)


def _answer(feed: rt.FeedMessage, fmt: str) -> Response:
    headers = {"Cache-Control": "no-cache"}
    if fmt == "json":
        body = json_format.MessageToJson(feed, preserving_proto_field_name=True)
        return Response(body, media_type="application/json", headers=headers)
    return Response(feed.SerializeToString(), media_type=PROTOBUF, headers=headers)


@router.get("/vehicle-positions", response_class=Response, responses=RESPONSES)
async def vehicle_positions(
    settings: SettingsDep,
    pool: PoolDep,
    ref: ReferenceDep,
    now: NowDep,
    format: FORMAT = "protobuf",
) -> Response:
    """Every vehicle heard from in the last `realtime_stale_s` (GTFS-realtime 2.0); trip, route
    and stop ids the static GTFS feed does not have are left out."""
    stale_s = settings.api.realtime_stale_s
    rows = await fetch(pool, FRESH_VEHICLES, {"cutoff": now - timedelta(seconds=stale_s)})
    omitted: Counter[str] = Counter()
    feed = realtime.vehicle_positions(rows, now, stale_s, realtime.Known.of(ref.feed), omitted)
    _count("vehicle_positions", omitted)
    return _answer(feed, format)


@router.get("/trip-updates", response_class=Response, responses=RESPONSES)
async def trip_updates(
    settings: SettingsDep,
    pool: PoolDep,
    ref: ReferenceDep,
    now: NowDep,
    format: FORMAT = "protobuf",
) -> Response:
    """Predicted arrivals per trip of every vehicle heard from in the last `realtime_stale_s`;
    no TripUpdate for a trip, and no arrival at a stop, that the static GTFS feed lacks."""
    stale_s = settings.api.realtime_stale_s
    params = {
        "cutoff": now - timedelta(seconds=stale_s),
        "since": now - timedelta(seconds=settings.api.eta_grace_s),
    }
    vehicles = await fetch(pool, FRESH_VEHICLES, params)
    etas = await fetch(pool, FRESH_ETAS, params)
    omitted: Counter[str] = Counter()
    known = realtime.Known.of(ref.feed)
    feed = realtime.trip_updates(etas, vehicles, now, stale_s, known, omitted)
    _count("trip_updates", omitted)
    return _answer(feed, format)
