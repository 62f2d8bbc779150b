"""FastAPI dependencies shared by the routers: the store, parsed bodies, version ids."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from transitstream.registry import errors, models
from transitstream.registry.compat import Level, ParsedSchema
from transitstream.registry.store import LATEST, SchemaStore

MAX_VERSION = 2**31 - 1


class RegistryResponse(JSONResponse):
    """Every answer carries Confluent's media type; some clients check it."""

    media_type = models.MEDIA_TYPE


def get_store(request: Request) -> SchemaStore:
    store: SchemaStore | None = getattr(request.app.state, "store", None)
    if store is None:
        raise errors.RegistryError(50001, "the registry is still starting", http_status=503)
    return store


async def _json_body(request: Request) -> object:
    models.check_content_type(request.headers.get("content-type"))
    return models.decode_json(await request.body())


async def schema_body(request: Request) -> ParsedSchema:
    return models.schema_request(await _json_body(request))


async def level_body(request: Request) -> Level:
    return models.level_request(await _json_body(request))


def parse_version(version: str) -> int:
    """`latest` and -1 mean the newest version; otherwise an int in [1, 2^31-1] (else 42202)."""
    if version.strip().lower() == "latest":
        return LATEST
    try:
        number = int(version)
    except ValueError:
        raise errors.invalid_version(version) from None
    if number == LATEST:
        return LATEST
    if not 1 <= number <= MAX_VERSION:
        raise errors.invalid_version(version)
    return number


StoreDep = Annotated[SchemaStore, Depends(get_store)]
SchemaBody = Annotated[ParsedSchema, Depends(schema_body)]
LevelBody = Annotated[Level, Depends(level_body)]
VersionId = Annotated[int, Depends(parse_version)]
