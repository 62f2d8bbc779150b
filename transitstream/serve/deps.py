"""What a route needs, as `Annotated` dependencies: settings, the pool, the GTFS reference, now.

They are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, which
costs more than these one-line lookups themselves. The two hottest routes (`/eta`,
`/vehicles/{id}`) take one dependency, `ServingDep`, instead of four: each dependency FastAPI
resolves costs more than a cached answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from transitstream.config import Settings
from transitstream.serve.cache import ReadCache
from transitstream.serve.reference import Reference


@dataclass(frozen=True)
class Serving:
    """Everything the lifespan built, in one object (`app.state.serving`)."""

    settings: Settings
    pool: AsyncConnectionPool
    reference: Reference
    cache: ReadCache


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.serving.pool


async def _reference(request: Request) -> Reference:
    return request.app.state.serving.reference


async def _serving(request: Request) -> Serving:
    return request.app.state.serving


async def _now() -> datetime:
    """One instant per request, so every field of an answer is computed against the same now."""
    return datetime.now(UTC)


SettingsDep = Annotated[Settings, Depends(_settings)]
PoolDep = Annotated[AsyncConnectionPool, Depends(_pool)]
ReferenceDep = Annotated[Reference, Depends(_reference)]
NowDep = Annotated[datetime, Depends(_now)]
ServingDep = Annotated[Serving, Depends(_serving)]
