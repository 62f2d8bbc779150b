"""`GET /vehicles` (filtered, paged) and `GET /vehicles/{vehicle_id}` (with open anomalies)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from transitstream.serve.answers import VehicleAnswer
from transitstream.serve.cache import vehicle_key, vehicle_tag
from transitstream.serve.db import fetch
from transitstream.serve.deps import NowDep, PoolDep, ReferenceDep, ServingDep, SettingsDep
from transitstream.serve.errors import ERROR_RESPONSES, ApiError, not_found
from transitstream.serve.models import VehicleDetail, VehiclePage
from transitstream.serve.queries import (
    OPEN_ANOMALIES,
    VEHICLE_BY_ID,
    anomaly_model,
    decode_cursor,
    encode_cursor,
    sql_text,
    vehicle_model,
    vehicles_query,
)

router = APIRouter(prefix="/vehicles", tags=["vehicles"])


@router.get("", response_model=VehiclePage, responses=ERROR_RESPONSES, summary="Vehicles")
async def list_vehicles(
    settings: SettingsDep,
    pool: PoolDep,
    ref: ReferenceDep,
    now: NowDep,
    route_id: Annotated[str | None, Query(description="only this route's vehicles")] = None,
    stale: Annotated[bool | None, Query(description="only stale (true) or live (false)")] = None,
    limit: Annotated[int, Query(ge=1, description="page size")] = 100,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> VehiclePage:
    """Current state of every vehicle, in id order; follow `next_cursor` for the next page."""
    if limit > settings.api.page_size_max:
        raise ApiError(422, "invalid_request", f"limit: at most {settings.api.page_size_max}")
    after = decode_cursor(cursor) if cursor else None
    route_id = sql_text("route_id", route_id) if route_id is not None else None
    stale_after = settings.project.stale_after_s
    rows = await fetch(pool, vehicles_query(now, stale_after, limit, after, route_id, stale))
    page = [vehicle_model(r, now, stale_after, ref) for r in rows[:limit]]
    more = len(rows) > limit
    return VehiclePage(
        vehicles=page, next_cursor=encode_cursor(page[-1].vehicle_id) if more else None
    )


@router.get(
    "/{vehicle_id}",
    response_model=VehicleDetail,
    responses=ERROR_RESPONSES,
    summary="One vehicle",
)
async def get_vehicle(vehicle_id: str, serving: ServingDep) -> Response:
    """Where it is, how late, its next stop, whether it is stale, and its open anomalies.

    From the read cache when it may answer (`transitstream.serve.cache`), else from Postgres;
    `age_s` and `stale` are derived for this request's instant either way."""
    vehicle_id = sql_text("vehicle_id", vehicle_id)
    cache, now = serving.cache, datetime.now(UTC)
    key = vehicle_key(vehicle_id)
    answer: VehicleAnswer | None = cache.get(key)
    if answer is None:
        started = cache.begin()
        rows = await fetch(serving.pool, VEHICLE_BY_ID, {"vehicle_id": vehicle_id})
        if not rows:
            raise not_found(f"vehicle {vehicle_id!r}", "it has not reported yet; see GET /vehicles")
        stale_after = serving.settings.project.stale_after_s
        vehicle = vehicle_model(rows[0], now, stale_after, serving.reference)
        anomalies = await fetch(serving.pool, OPEN_ANOMALIES, {"vehicle_ids": [vehicle_id]})
        answer = VehicleAnswer.build(
            vehicle, rows[0], [anomaly_model(a) for a in anomalies], stale_after
        )
        cache.put(key, answer, [vehicle_tag(vehicle_id)], started)
    return Response(answer.render(now), media_type="application/json")
