"""`/compatibility`: ask whether a schema would be accepted, without registering it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from transitstream.registry.deps import SchemaBody, StoreDep, VersionId

router = APIRouter(prefix="/compatibility", tags=["compatibility"])


def _answer(problems: list[str], verbose: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {"is_compatible": not problems}
    if verbose:
        answer["messages"] = problems
    return answer


@router.post("/subjects/{subject}/versions/{version}")
def against_version(
    subject: str, version: VersionId, parsed: SchemaBody, store: StoreDep, verbose: bool = False
) -> dict[str, Any]:
    """Against one version (the level's direction, never transitive), as Confluent does."""
    return _answer(store.problems(subject, parsed, version), verbose)


@router.post("/subjects/{subject}/versions")
def against_all(
    subject: str, parsed: SchemaBody, store: StoreDep, verbose: bool = False
) -> dict[str, Any]:
    """Against the versions the subject's level names: the latest, or all if transitive."""
    return _answer(store.problems(subject, parsed), verbose)
