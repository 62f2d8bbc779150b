"""`/subjects`: register, list, fetch, look up and delete schema versions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from transitstream.registry.deps import SchemaBody, StoreDep, VersionId
from transitstream.registry.models import MEDIA_TYPE
from transitstream.registry.store import SchemaStore, Version

router = APIRouter(prefix="/subjects", tags=["subjects"])


def _describe(store: SchemaStore, v: Version) -> dict[str, Any]:
    # schemaType is omitted for AVRO, as Confluent does; clients default to AVRO.
    return {
        "subject": v.subject,
        "version": v.version,
        "id": v.schema_id,
        "schema": store.schema(v.schema_id).text,
    }


@router.get("")
def list_subjects(
    store: StoreDep,
    deleted: bool = False,
    deleted_only: bool = False,
    subject_prefix: Annotated[str, Query(alias="subjectPrefix")] = "",
    offset: int = 0,
    limit: int = -1,
) -> list[str]:
    found = [
        s
        for s in store.subjects(deleted=deleted, deleted_only=deleted_only)
        if s.startswith(subject_prefix)
    ]
    found = found[max(offset, 0) :]
    return found[:limit] if limit >= 0 else found


@router.get("/{subject}/versions")
def list_versions(
    subject: str,
    store: StoreDep,
    deleted: bool = False,
    deleted_only: bool = False,
    offset: int = 0,
    limit: int = -1,
) -> list[int]:
    found = store.versions(subject, deleted=deleted or deleted_only)
    numbers = [v.version for v in found if v.deleted or not deleted_only]
    numbers = numbers[max(offset, 0) :]
    return numbers[:limit] if limit >= 0 else numbers


@router.get("/{subject}/versions/{version}")
def get_version(
    subject: str, version: VersionId, store: StoreDep, deleted: bool = False
) -> dict[str, Any]:
    return _describe(store, store.version(subject, version, deleted=deleted))


@router.get("/{subject}/versions/{version}/schema")
def get_version_schema(
    subject: str, version: VersionId, store: StoreDep, deleted: bool = False
) -> Response:
    found = store.version(subject, version, deleted=deleted)
    return Response(store.schema(found.schema_id).text, media_type=MEDIA_TYPE)


@router.get("/{subject}/versions/{version}/referencedby")
def referenced_by(subject: str, version: VersionId, store: StoreDep) -> list[int]:
    store.version(subject, version)  # 40401 / 40402 as usual; references are not supported
    return []


@router.post("/{subject}/versions")
def register(subject: str, parsed: SchemaBody, store: StoreDep) -> dict[str, int]:
    schema_id = store.register(subject, parsed)
    return {"id": schema_id}


@router.post("/{subject}")
def lookup(
    subject: str, parsed: SchemaBody, store: StoreDep, deleted: bool = False
) -> dict[str, Any]:
    return _describe(store, store.lookup(subject, parsed, deleted=deleted))


@router.delete("/{subject}")
def delete_subject(subject: str, store: StoreDep, permanent: bool = False) -> list[int]:
    return store.delete_subject(subject, permanent)


@router.delete("/{subject}/versions/{version}")
def delete_version(
    subject: str, version: VersionId, store: StoreDep, permanent: bool = False
) -> int:
    return store.delete_version(subject, version, permanent)
