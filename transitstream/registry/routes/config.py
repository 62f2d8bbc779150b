"""`/config`: the global and per-subject compatibility level.

GET answers with both `compatibilityLevel` (what Confluent's server returns and confluent-kafka's
`get_compatibility()` reads) and `compatibility` (the key PUT takes), so either spelling works.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from transitstream.registry.compat import Level
from transitstream.registry.deps import LevelBody, StoreDep

router = APIRouter(prefix="/config", tags=["config"])


def _read(level: Level) -> dict[str, str]:
    return {"compatibilityLevel": level.value, "compatibility": level.value}


@router.get("")
def get_global(store: StoreDep) -> dict[str, str]:
    return _read(store.level(None))


@router.put("")
def put_global(level: LevelBody, store: StoreDep) -> dict[str, str]:
    return {"compatibility": (store.set_level(None, level)).value}


@router.delete("")
def delete_global(store: StoreDep) -> dict[str, str]:
    """Back to `TRANSITSTREAM_REGISTRY__DEFAULT_COMPATIBILITY`; answers the level it replaced."""
    return _read(store.delete_level(None))


@router.get("/{subject}")
def get_subject(
    subject: str,
    store: StoreDep,
    default_to_global: Annotated[bool, Query(alias="defaultToGlobal")] = False,
) -> dict[str, str]:
    return _read(store.level(subject, default_to_global=default_to_global))


@router.put("/{subject}")
def put_subject(subject: str, level: LevelBody, store: StoreDep) -> dict[str, str]:
    return {"compatibility": (store.set_level(subject, level)).value}


@router.delete("/{subject}")
def delete_subject(subject: str, store: StoreDep) -> dict[str, str]:
    return _read(store.delete_level(subject))
