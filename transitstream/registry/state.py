"""The registry's state in memory, and how one log record changes it.

`apply` is the only way state changes, both during the startup replay and after each write, so
what a restarted registry rebuilds is, by construction, what the running one served.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from transitstream.registry import errors
from transitstream.registry import records as rec
from transitstream.registry.compat import Level, ParsedSchema, SchemaParseError, parse_schema

log = logging.getLogger(__name__)

LATEST = -1


@dataclass(frozen=True)
class Version:
    subject: str
    version: int
    schema_id: int
    deleted: bool


class RegistryState:
    """Subjects, versions, ids and levels; reads are answered from here under one lock."""

    def __init__(self, default_level: Level) -> None:
        self._default = default_level
        self._lock = threading.RLock()
        self._versions: dict[str, dict[int, Version]] = {}
        self._by_id: dict[int, ParsedSchema] = {}
        self._id_of: dict[str, int] = {}  # canonical text -> id
        self._refs: dict[int, set[tuple[str, int]]] = {}
        self._levels: dict[str | None, Level] = {}
        self._max_id = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        change = rec.decode(key, value)
        with self._lock:
            if isinstance(change, rec.ConfigChange):
                if change.level is None:
                    self._levels.pop(change.subject, None)
                else:
                    self._levels[change.subject] = change.level
            elif isinstance(change, rec.SchemaChange):
                self._apply_schema(change)

    def _apply_schema(self, change: rec.SchemaChange) -> None:
        subject_versions = self._versions.setdefault(change.subject, {})
        old = subject_versions.pop(change.version, None)
        if old is not None:
            self._unref(old)
        if change.tombstone or change.schema is None or change.schema_id is None:
            if not subject_versions:
                del self._versions[change.subject]
            return
        sid = change.schema_id
        if sid not in self._by_id:
            try:
                parsed = parse_schema(change.schema)
            except SchemaParseError as exc:
                log.warning("skipping unparsable schema id %d in the log: %s", sid, exc)
                if not subject_versions:
                    del self._versions[change.subject]
                return
            self._by_id[sid] = parsed
            self._id_of.setdefault(parsed.canonical, sid)
        subject_versions[change.version] = Version(
            change.subject, change.version, sid, change.deleted
        )
        self._refs.setdefault(sid, set()).add((change.subject, change.version))
        self._max_id = max(self._max_id, sid)

    def _unref(self, old: Version) -> None:
        refs = self._refs.get(old.schema_id, set())
        refs.discard((old.subject, old.version))
        if not refs:
            self._refs.pop(old.schema_id, None)
            gone = self._by_id.pop(old.schema_id, None)
            if gone is not None and self._id_of.get(gone.canonical) == old.schema_id:
                del self._id_of[gone.canonical]

    # ---- reads -----------------------------------------------------------------------------
    def _live(self, subject: str, deleted: bool = False) -> list[Version]:
        found = self._versions.get(subject, {}).values()
        return sorted((v for v in found if deleted or not v.deleted), key=lambda v: v.version)

    def subjects(self, deleted: bool = False, deleted_only: bool = False) -> list[str]:
        with self._lock:
            out = []
            for subject in sorted(self._versions):
                live = bool(self._live(subject))
                if (deleted_only and not live) or (not deleted_only and (live or deleted)):
                    out.append(subject)
            return out

    def versions(self, subject: str, deleted: bool = False) -> list[Version]:
        with self._lock:
            found = self._live(subject, deleted)
            if not found:
                raise errors.subject_not_found(subject)
            return found

    def version(self, subject: str, version: int, deleted: bool = False) -> Version:
        with self._lock:
            found = self.versions(subject, deleted)
            if version == LATEST:
                return found[-1]
            for v in found:
                if v.version == version:
                    return v
            raise errors.version_not_found(version)

    def schema(self, schema_id: int) -> ParsedSchema:
        with self._lock:
            parsed = self._by_id.get(schema_id)
            if parsed is None:
                raise errors.schema_not_found(f"Schema {schema_id} not found")
            return parsed

    def usages(self, schema_id: int, deleted: bool = False) -> list[Version]:
        with self._lock:
            self.schema(schema_id)
            refs = sorted(self._refs.get(schema_id, set()))
            found = [self._versions[s][v] for s, v in refs]
            return [v for v in found if deleted or not v.deleted]

    def lookup(self, subject: str, parsed: ParsedSchema, deleted: bool = False) -> Version:
        with self._lock:
            for v in reversed(self.versions(subject, deleted)):
                if self._by_id[v.schema_id].canonical == parsed.canonical:
                    return v
            raise errors.schema_not_found()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "subjects": sum(1 for s in self._versions if self._live(s)),
                "versions": sum(len(self._live(s)) for s in self._versions),
                "schema_ids": len(self._by_id),
            }

    # ---- compatibility ---------------------------------------------------------------------
    def level(self, subject: str | None = None, default_to_global: bool = True) -> Level:
        with self._lock:
            if subject is not None and subject in self._levels:
                return self._levels[subject]
            if subject is not None and not default_to_global:
                raise errors.subject_config_not_found(subject)
            return self._levels.get(None, self._default)
