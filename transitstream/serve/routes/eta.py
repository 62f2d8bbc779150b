"""`GET /eta?stop_id=...`: the next arrivals at a stop, soonest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from transitstream.serve.db import fetch
from transitstream.serve.deps import NowDep, PoolDep, ReferenceDep, SettingsDep
from transitstream.serve.errors import ERROR_RESPONSES, ApiError, not_found
from transitstream.serve.models import EtaResponse, StopRef
from transitstream.serve.queries import arrivals_by_stop, eta_query

router = APIRouter(tags=["arrivals"])


@router.get(
    "/eta",
    response_model=EtaResponse,
    responses=ERROR_RESPONSES,
    summary="Next arrivals at a stop",
)
async def eta(
    stop_id: Annotated[str, Query(min_length=1, description="a GTFS stop_id (see /stops)")],
    settings: SettingsDep,
    pool: PoolDep,
    ref: ReferenceDep,
    now: NowDep,
    route_id: Annotated[str | None, Query(description="only this route's arrivals")] = None,
    limit: Annotated[int | None, Query(ge=1, description="at most this many arrivals")] = None,
) -> EtaResponse:
    """Predicted arrivals from the live read model, with the schedule deviation and the age of
    each prediction. A known stop with nothing coming answers 200 with an empty list."""
    stop = ref.feed.stops.get(stop_id)
    if stop is None:
        raise not_found(f"stop {stop_id!r}", "pick a stop_id from GET /stops")
    if route_id is not None and route_id not in ref.feed.routes:
        raise not_found(f"route {route_id!r}", "pick a route_id from GET /routes")
    api = settings.api
    if limit is not None and limit > api.eta_limit_max:
        raise ApiError(422, "invalid_request", f"limit: at most {api.eta_limit_max}")
    query = eta_query(
        [stop_id], now, api.eta_grace_s, api.eta_max_age_s, limit or api.eta_limit, route_id
    )
    rows = await fetch(pool, query)
    return EtaResponse(
        stop=StopRef(
            stop_id=stop.stop_id, name=stop.name, lat=stop.lat, lon=stop.lon, code=stop.code
        ),
        generated_at=now,
        arrivals=arrivals_by_stop(rows, now, ref).get(stop_id, []),
    )
