"""`GET /eta?stop_id=...`: the next arrivals at a stop, soonest first.

Answered from the process's read cache when it may (`transitstream.serve.cache` says when), else
from Postgres, and stored for the next request. Either way the body is encoded JSON bytes with
the time-dependent fields derived for this request's instant (`transitstream.serve.answers`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from transitstream.serve.answers import Board
from transitstream.serve.cache import eta_key, stop_tag, vehicle_tag
from transitstream.serve.db import fetch
from transitstream.serve.deps import ServingDep
from transitstream.serve.errors import ERROR_RESPONSES, ApiError, not_found
from transitstream.serve.models import EtaResponse, StopRef
from transitstream.serve.queries import eta_query

router = APIRouter(tags=["arrivals"])
JSON = "application/json"


@router.get(
    "/eta",
    response_model=EtaResponse,
    responses=ERROR_RESPONSES,
    summary="Next arrivals at a stop",
)
async def eta(
    stop_id: Annotated[str, Query(min_length=1, description="a GTFS stop_id (see /stops)")],
    serving: ServingDep,
    route_id: Annotated[str | None, Query(description="only this route's arrivals")] = None,
    limit: Annotated[int | None, Query(ge=1, description="at most this many arrivals")] = None,
) -> Response:
    """Predicted arrivals from the live read model, with the schedule deviation and the age of
    each prediction. A known stop with nothing coming answers 200 with an empty list."""
    ref, api, cache = serving.reference, serving.settings.api, serving.cache
    stop = ref.feed.stops.get(stop_id)
    if stop is None:
        raise not_found(f"stop {stop_id!r}", "pick a stop_id from GET /stops")
    if route_id is not None and route_id not in ref.feed.routes:
        raise not_found(f"route {route_id!r}", "pick a route_id from GET /routes")
    if limit is not None and limit > api.eta_limit_max:
        raise ApiError(422, "invalid_request", f"limit: at most {api.eta_limit_max}")
    limit = limit or api.eta_limit
    # one board per stop and route, whatever the limit (each request takes its first `limit`
    # rows): the cache holds at most the stop's real arrivals, not one copy per limit asked
    key = eta_key(stop_id, route_id)
    now = datetime.now(UTC)
    board: Board | None = cache.lookup(key)
    body = board.render(now, limit) if board is not None else None
    cache.count(body is not None)
    if body is None:
        started = cache.begin()
        read = max(limit, api.eta_limit, board.limit if board is not None else 0)
        query = eta_query([stop_id], now, api.eta_grace_s, api.eta_max_age_s, read, route_id)
        rows = await fetch(serving.pool, query)
        ref_ = StopRef(stop_id=stop.stop_id, name=stop.name, lat=stop.lat, lon=stop.lon,
                       code=stop.code)  # fmt: skip
        board = Board.build(ref_, rows, now, ref, api.eta_grace_s, api.eta_max_age_s, read)
        tags = [stop_tag(stop_id), *(vehicle_tag(r["vehicle_id"]) for r in rows)]
        cache.put(key, board, tags, started)
        body = board.render(now, limit)
        assert body is not None  # every row was read at `now`, so none has left yet
    return Response(body, media_type=JSON)
