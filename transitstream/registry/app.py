"""The registry's FastAPI app: routers, Confluent error bodies, health and metrics.

Kafka clients are created in the lifespan, never at import, and the state is replayed from the
topic before the first request is served, so no client ever sees a half-loaded registry.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import make_asgi_app
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from transitstream.config import Settings, load_settings
from transitstream.errors import ConfigError
from transitstream.registry.compat import Level
from transitstream.registry.deps import RegistryResponse
from transitstream.registry.errors import RegistryError
from transitstream.registry.kafkalog import KafkaLog
from transitstream.registry.metrics import RegistryMetrics
from transitstream.registry.routes import ROUTERS
from transitstream.registry.store import SchemaStore

log = logging.getLogger(__name__)


def default_level(settings: Settings) -> Level:
    level = Level.parse(settings.registry.default_compatibility)
    if level is None:
        raise ConfigError(
            "TRANSITSTREAM_REGISTRY__DEFAULT_COMPATIBILITY="
            f"{settings.registry.default_compatibility!r} is not a compatibility level; "
            f"use one of {', '.join(Level)}"
        )
    return level


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    level = default_level(settings)
    metrics = RegistryMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kafka = KafkaLog(settings)
        await run_in_threadpool(kafka.open)
        try:
            store = SchemaStore(kafka, level)
            await run_in_threadpool(store.load)
            app.state.kafka, app.state.store = kafka, store
            metrics.store.store = store
            log.info(
                "schema registry ready on %s (%s, default %s)",
                settings.registry.url,
                kafka.where,
                level,
            )
            yield
        finally:
            app.state.store = None
            metrics.store.store = None
            await run_in_threadpool(kafka.close)
            log.info("schema registry stopped")

    app = FastAPI(
        title="transitstream schema registry",
        summary="Confluent-compatible Schema Registry (AVRO) backed by a compacted Kafka topic",
        lifespan=lifespan,
        default_response_class=RegistryResponse,
    )
    app.state.store = None
    for router in ROUTERS:
        app.include_router(router)
    app.middleware("http")(metrics.middleware)
    metrics_app = make_asgi_app(registry=metrics.registry)
    app.mount("/metrics", metrics_app)
    # The mount alone answers `/metrics` with a redirect to `/metrics/`; scrape it directly.
    app.router.routes.append(Route("/metrics", _AsgiEndpoint(metrics_app), include_in_schema=False))
    _install_error_handlers(app)

    @app.get("/", include_in_schema=False)
    def root() -> dict[str, str]:
        return {}

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request) -> RegistryResponse:
        kafka: KafkaLog | None = getattr(request.app.state, "kafka", None)
        ok, detail = kafka.healthy() if kafka is not None else (False, "not started")
        return RegistryResponse(
            {"status": "ok" if ok else "unavailable", "kafka": detail},
            status_code=200 if ok else 503,
        )

    return app


class _AsgiEndpoint:
    """Makes Starlette treat a plain ASGI function as an app rather than a request handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    """Every failure answers in Confluent's `{"error_code", "message"}` shape, never HTML."""

    @app.exception_handler(RegistryError)
    async def registry_error(_: Request, exc: RegistryError) -> RegistryResponse:
        return RegistryResponse(exc.body(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> RegistryResponse:
        detail = "; ".join(
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()
        )
        return RegistryResponse({"error_code": 422, "message": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> RegistryResponse:
        return RegistryResponse(
            {"error_code": exc.status_code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> RegistryResponse:
        log.exception("unexpected registry error")
        return RegistryResponse(
            {"error_code": 50001, "message": f"Error in the registry: {exc}"}, status_code=500
        )
