"""The read API's FastAPI app: `create_app()` with a lifespan that owns the pool and the poller.

Nothing connects at import time: the pool is created closed and opened in the lifespan, without
waiting for Postgres, so the API starts (and `/healthz` says 503) while the database is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import make_asgi_app
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from transitstream.config import Settings, get_settings
from transitstream.serve import errors, metrics
from transitstream.serve.cache import ReadCache
from transitstream.serve.db import make_pool
from transitstream.serve.deps import Serving
from transitstream.serve.fanout import Hub
from transitstream.serve.fastpath import CachedAnswers
from transitstream.serve.models import Health
from transitstream.serve.poller import Poller
from transitstream.serve.reference import load_reference
from transitstream.serve.routes import eta, live, realtime, reference, vehicles

STATIC = Path(__file__).parent / "static"


class MetricsApp:
    """prometheus-client's ASGI app as an object: Starlette runs a plain function as a request
    handler, but routes an ASGI object as it is (a Mount would redirect /metrics to /metrics/)."""

    def __init__(self) -> None:
        self.app = make_asgi_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class TimeRequests:
    """Request latency by route template, as plain ASGI middleware (Starlette's
    `BaseHTTPMiddleware` would cost more per request than a whole `/eta` query)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUEST_SECONDS.labels(scope["method"], route, status).observe(
                time.perf_counter() - start
            )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; with no argument, for Settings from the environment (uvicorn's `factory=True`
    calls it so in each worker process)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reference = await asyncio.to_thread(
            load_reference, settings.gtfs_path, settings.api.shape_tolerance_m
        )
        # the GTFS reference is ~160k objects that live as long as the process: a full garbage
        # collection walked them all (about 100 ms, a stall of every request in flight), so they
        # are moved out of the collector's reach
        gc.collect()
        gc.freeze()
        pool = make_pool(settings)
        await pool.open(wait=False)
        app.state.hub = Hub(settings.api.ws_queue)
        cache = ReadCache(settings.api.cache_entries, settings.api.cache_ttl_s)
        app.state.serving = Serving(settings, pool, reference, cache)
        poller = Poller(pool, app.state.hub, settings, reference, cache)
        task = asyncio.create_task(poller.run(), name="read-model-poller")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await pool.close()

    app = FastAPI(
        title="TransitStream read API",
        summary="Arrivals, vehicles and GTFS-realtime from the live read models.",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    for module in (eta, vehicles, reference, realtime, live):
        app.include_router(module.router)

    app.add_middleware(TimeRequests)
    app.add_middleware(CachedAnswers, state=app.state)  # outermost: a hit skips the rest

    @app.get("/healthz", tags=["ops"], response_model=Health, summary="Postgres reachable")
    async def healthz(request: Request) -> JSONResponse:
        start = time.perf_counter()
        ok = True
        try:
            async with app.state.serving.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1 FROM vehicle_state LIMIT 1")
            postgres = "ok"
        except Exception as exc:
            ok = False
            postgres = (
                f"unreachable at {settings.postgres.masked_conninfo()} ({type(exc).__name__}): "
                "run `transitstream infra up`"
            )
        body = Health(
            status="ok" if ok else "degraded",
            postgres=postgres,
            gtfs=f"{len(app.state.serving.reference.feed.stops)} stops",
            websocket_clients=len(app.state.hub.clients),
            checked_in_ms=round((time.perf_counter() - start) * 1000, 1),
            worker_pid=os.getpid(),
        )
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    app.router.routes.append(Route("/metrics", MetricsApp(), include_in_schema=False))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
