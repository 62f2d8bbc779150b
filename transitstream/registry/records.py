"""The record layout of the registry topic, modelled on Confluent's `_schemas` topic.

Keys are JSON naming the entity (`{"keytype":"SCHEMA","subject":..,"version":..,"magic":1}`,
`{"keytype":"CONFIG","subject":..,"magic":0}`), values are JSON, and a hard delete is a
tombstone. Keys are serialised in one fixed field order because compaction matches keys by
bytes: two spellings of one key would both survive and replay would see stale state.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from transitstream.registry.compat import Level

log = logging.getLogger(__name__)

Record = tuple[bytes, bytes | None]


@dataclass(frozen=True)
class SchemaChange:
    """A version registered or soft-deleted (`value` set) or hard-deleted (`value` None)."""

    subject: str
    version: int
    schema_id: int | None = None
    schema: str | None = None
    deleted: bool = False

    @property
    def tombstone(self) -> bool:
        return self.schema_id is None


@dataclass(frozen=True)
class ConfigChange:
    """A compatibility level set (`level`) or removed (None); subject None is the global one."""

    subject: str | None
    level: Level | None


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def schema_key(subject: str, version: int) -> bytes:
    return _dump({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})


def schema_value(subject: str, version: int, schema_id: int, schema: str, deleted: bool) -> bytes:
    return _dump(
        {
            "subject": subject,
            "version": version,
            "id": schema_id,
            "schema": schema,
            "deleted": deleted,
        }
    )


def config_key(subject: str | None) -> bytes:
    return _dump({"keytype": "CONFIG", "subject": subject, "magic": 0})


def config_value(level: Level) -> bytes:
    return _dump({"compatibilityLevel": level.value})


def decode(key: bytes | None, value: bytes | None) -> SchemaChange | ConfigChange | None:
    """The change a record describes, or None for records this registry does not use."""
    try:
        k = json.loads(key) if key else None
        v = json.loads(value) if value else None
    except (ValueError, UnicodeDecodeError):
        log.warning("skipping undecodable registry record key=%r", key)
        return None
    if not isinstance(k, dict):
        return None
    keytype = k.get("keytype")
    try:
        if keytype == "SCHEMA":
            subject, version = str(k["subject"]), int(k["version"])
            if v is None:
                return SchemaChange(subject, version)
            return SchemaChange(
                subject,
                version,
                schema_id=int(v["id"]),
                schema=str(v["schema"]),
                deleted=bool(v.get("deleted", False)),
            )
        if keytype == "CONFIG":
            subject_or_global = k.get("subject")
            level = None if v is None else Level.parse(v.get("compatibilityLevel"))
            if v is not None and level is None:
                log.warning("skipping config record with unknown level: %r", v)
                return None
            return ConfigChange(subject_or_global, level)
    except (KeyError, TypeError, ValueError):
        log.warning("skipping malformed registry record key=%r value=%r", key, value)
        return None
    return None  # NOOP, MODE, DELETE_SUBJECT...: the per-version records already carry state
