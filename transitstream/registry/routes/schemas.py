"""`/schemas`: what deserializers call, by the id found in the message's 5-byte header."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from transitstream.registry.deps import StoreDep
from transitstream.registry.models import MEDIA_TYPE, SUPPORTED_SCHEMA_TYPES

router = APIRouter(prefix="/schemas", tags=["schemas"])


@router.get("/types")
def schema_types() -> list[str]:
    return list(SUPPORTED_SCHEMA_TYPES)


@router.get("/ids/{schema_id}")
def get_schema(schema_id: int, store: StoreDep, subject: str | None = None) -> dict[str, Any]:
    # Soft-deleted versions keep their id readable: old messages must still deserialize.
    # `subject` is accepted for client compatibility; ids are global here, so it changes nothing.
    return {"schema": store.schema(schema_id).text}


@router.get("/ids/{schema_id}/schema")
def get_schema_text(schema_id: int, store: StoreDep) -> Response:
    return Response(store.schema(schema_id).text, media_type=MEDIA_TYPE)


@router.get("/ids/{schema_id}/versions")
def schema_versions(schema_id: int, store: StoreDep, deleted: bool = False) -> list[dict[str, Any]]:
    return [
        {"subject": v.subject, "version": v.version}
        for v in store.usages(schema_id, deleted=deleted)
    ]


@router.get("/ids/{schema_id}/subjects")
def schema_subjects(schema_id: int, store: StoreDep, deleted: bool = False) -> list[str]:
    return sorted({v.subject for v in store.usages(schema_id, deleted=deleted)})
