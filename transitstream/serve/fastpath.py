"""Cache hits of `GET /eta` and `GET /vehicles/{id}` answered before FastAPI's router.

FastAPI's routing, dependency resolution and parameter validation cost about 90 us per request,
more than a cached answer itself (`answers.py`, ~40 us). This plain ASGI layer answers a request
only when it is a cache hit, and hands everything else to the app unchanged: a key is in the
cache only because the route, with FastAPI's full validation, stored it, so the layer never
decides anything the route would decide differently. Anything unusual (another parameter, a
repeated one, a `limit` not written as plain digits, a root path) goes to the route, which may
still answer from the cache. The request is timed in `serve_request_seconds` as the route would.
"""

from __future__ import annotations

import re
import time
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from transitstream.serve import metrics
from transitstream.serve.cache import HIT, eta_key, vehicle_key

ETA_PARAMS = frozenset({"stop_id", "route_id", "limit"})
DIGITS = re.compile(r"[1-9][0-9]{0,5}")
VEHICLES = "/vehicles/"
HEADERS = [(b"content-type", b"application/json")]
TIMERS = {
    "eta": metrics.REQUEST_SECONDS.labels("GET", "/eta", 200),
    "vehicle": metrics.REQUEST_SECONDS.labels("GET", "/vehicles/{vehicle_id}", 200),
}


def cache_key(
    scope: Scope, default_limit: int, max_limit: int
) -> tuple[Hashable, int | None] | None:
    """The cache key the route would use for this request and the `limit` of an `/eta` (None
    for a vehicle), or None to leave the request to the route."""
    if scope["method"] != "GET" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if path == "/eta":
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs) or not params.keys() <= ETA_PARAMS:
            return None
        limit = params.get("limit")
        if limit is not None and not (DIGITS.fullmatch(limit) and int(limit) <= max_limit):
            return None  # (a board is cached once for every limit: the route says 422)
        stop_id = params.get("stop_id")
        if not stop_id:
            return None
        return eta_key(stop_id, params.get("route_id")), int(limit) if limit else default_limit
    if path.startswith(VEHICLES):
        vehicle_id = path[len(VEHICLES) :]
        if vehicle_id and "/" not in vehicle_id:
            return vehicle_key(vehicle_id), None
    return None


class CachedAnswers:
    """Outermost ASGI layer: cache hits answered here, the rest passed to `app`."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app, self.state = app, state  # state: the FastAPI app's, with `serving` once live

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        answer = self.cached(scope)
        if answer is None:
            await self.app(scope, receive, send)
            return
        key, body = answer
        length = (b"content-length", b"%d" % len(body))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*HEADERS, length]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
        HIT.inc()
        TIMERS[key[0]].observe(time.perf_counter() - start)  # type: ignore[index]

    def cached(self, scope: Scope) -> tuple[Hashable, bytes] | None:
        """The cache key and the answer's body when the request is a cache hit, else None (the
        app answers it)."""
        if scope["type"] != "http":
            return None
        serving = getattr(self.state, "serving", None)
        if serving is None:  # not live yet
            return None
        api = serving.settings.api
        found = cache_key(scope, api.eta_limit, api.eta_limit_max)
        if found is None:
            return None
        key, limit = found
        entry = serving.cache.lookup(key)
        if entry is None:
            return None
        now = datetime.now(UTC)
        body = entry.render(now) if limit is None else entry.render(now, limit)
        if body is None:  # a board that only Postgres can complete
            return None
        return key, body
