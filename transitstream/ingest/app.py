"""The ingestor's FastAPI app: `create_app()` with a lifespan that owns every client."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from transitstream.config import Settings, get_settings
from transitstream.ingest import metrics
from transitstream.ingest.producer import TransactionalPool
from transitstream.ingest.routes import router
from transitstream.ingest.service import Ingestor


def _kafka_ok(settings: Settings) -> bool:
    admin = AdminClient(settings.kafka_config(**{"log_level": 0, "socket.timeout.ms": 2000}))
    try:
        return bool(admin.list_topics(timeout=2).brokers)
    except Exception:
        return False


def _registry_ok(settings: Settings) -> bool:
    try:
        return httpx.get(f"{settings.registry.url}/subjects", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = TransactionalPool(settings)
        app.state.ingestor = Ingestor(settings, pool)
        # Best effort: with the registry down we still start, and register on a later request.
        with contextlib.suppress(Exception):
            await run_in_threadpool(app.state.ingestor.ensure_registered)
        yield
        await run_in_threadpool(pool.close)

    app = FastAPI(
        title="TransitStream ingestor",
        summary="Devices post GPS fixes; a 202 means they are durable in Kafka.",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(router)

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        def count(status: int) -> None:
            route = request.scope.get("route")
            metrics.REQUESTS.labels(getattr(route, "path", "unmatched"), status).inc()

        try:
            response = await call_next(request)
        except Exception:  # the server answers it 500 (a client that left is not an Exception)
            count(500)
            raise
        count(response.status_code)
        return response

    @app.get("/healthz", tags=["ops"], summary="Kafka and the schema registry reachable")
    async def healthz() -> JSONResponse:
        start = time.perf_counter()
        kafka = await run_in_threadpool(_kafka_ok, settings)
        registry = await run_in_threadpool(_registry_ok, settings)
        body = {
            "status": "ok" if kafka and registry else "degraded",
            "kafka": "ok" if kafka else f"unreachable at {settings.kafka.bootstrap_servers}",
            "registry": "ok" if registry else f"unreachable at {settings.registry.url}",
            "checked_in_ms": round((time.perf_counter() - start) * 1000, 1),
        }
        return JSONResponse(body, status_code=200 if kafka and registry else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
