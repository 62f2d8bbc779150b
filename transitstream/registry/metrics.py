"""Prometheus metrics, on a registry per app so tests can build many apps in one process."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from transitstream.registry.store import SchemaStore


class StoreCollector(Collector):
    """Sizes read at scrape time, so they can never go stale after a replay or a delete."""

    def __init__(self) -> None:
        self.store: SchemaStore | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.store is None:
            return
        for name, value in self.store.stats().items():
            yield GaugeMetricFamily(
                f"schema_registry_{name}", f"live {name.replace('_', ' ')} in the registry", value
            )


class RegistryMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.store = StoreCollector()
        self.registry.register(self.store)
        self.requests = Counter(
            "schema_registry_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "schema_registry_http_request_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=self.registry,
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            # The route template, not the path: one series per endpoint, not per subject.
            route = getattr(request.scope.get("route"), "path", "unmatched")
            self.requests.labels(request.method, route, str(status)).inc()
            self.latency.labels(request.method, route).observe(time.perf_counter() - started)
