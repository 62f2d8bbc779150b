"""In-memory registry state, rebuilt from and written through the registry topic.

Every write goes to the log first and is then applied by the very function replay uses, so
what a restarted registry rebuilds is, by construction, what the running one served. One lock
serialises writers: ids and version numbers are allocated from the state the lock protects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from transitstream.registry import errors
from transitstream.registry import records as rec
from transitstream.registry.compat import (
    Level,
    ParsedSchema,
    PriorVersion,
    SchemaParseError,
    check,
    parse_schema,
)

log = logging.getLogger(__name__)

LATEST = -1


class RecordLog(Protocol):
    def replay(self) -> Iterable[tuple[bytes | None, bytes | None]]: ...

    def append(self, records: Sequence[rec.Record]) -> list[str | None]: ...


@dataclass(frozen=True)
class Version:
    subject: str
    version: int
    schema_id: int
    deleted: bool


class SchemaStore:
    def __init__(self, log_: RecordLog, default_level: Level) -> None:
        self._log = log_
        self._default = default_level
        self._lock = threading.RLock()
        self._versions: dict[str, dict[int, Version]] = {}
        self._by_id: dict[int, ParsedSchema] = {}
        self._id_of: dict[str, int] = {}  # canonical text -> id
        self._refs: dict[int, set[tuple[str, int]]] = {}
        self._levels: dict[str | None, Level] = {}
        self._max_id = 0

    # ---- replay and apply -------------------------------------------------------------------
    def load(self) -> int:
        count = 0
        for key, value in self._log.replay():
            self.apply(key, value)
            count += 1
        log.info(
            "registry state: %d record(s), %d subject(s), %d schema id(s)",
            count,
            len(self._versions),
            len(self._by_id),
        )
        return count

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

    def _commit(self, records: Sequence[rec.Record]) -> None:
        outcome = self._log.append(records)
        for (key, value), err in zip(records, outcome, strict=True):
            if err is None:
                self.apply(key, value)
        failed = [err for err in outcome if err is not None]
        if failed:
            raise errors.internal(
                f"{len(failed)} of {len(records)} change(s) not stored in Kafka: {failed[0]}"
            )

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

    def problems(self, subject: str, parsed: ParsedSchema, version: int | None = None) -> list[str]:
        """Why `parsed` may not join `subject`: against one version, or all the level implies."""
        with self._lock:
            level = self.level(subject)
            if version is None:
                prior = self._live(subject)
            else:
                try:
                    target = self.version(subject, version)
                except errors.RegistryError:
                    if version == LATEST:
                        return []  # nothing to be incompatible with, as Confluent answers
                    raise
                prior = [target]
                level = Level(level.value.removesuffix("_TRANSITIVE"))
            return check(
                level,
                parsed.schema,
                [PriorVersion(v.version, self._by_id[v.schema_id].schema) for v in prior],
            )

    # ---- writes ----------------------------------------------------------------------------
    def register(self, subject: str, parsed: ParsedSchema) -> int:
        with self._lock:
            live = self._live(subject)
            for v in live:
                if self._by_id[v.schema_id].canonical == parsed.canonical:
                    return v.schema_id
            found = self.problems(subject, parsed)
            if found:
                raise errors.incompatible_schema(subject, found)
            schema_id = self._id_of.get(parsed.canonical, self._max_id + 1)
            text = self._by_id[schema_id].text if schema_id in self._by_id else parsed.text
            version = max(self._versions.get(subject, {}), default=0) + 1
            self._commit(
                [
                    (
                        rec.schema_key(subject, version),
                        rec.schema_value(subject, version, schema_id, text, deleted=False),
                    )
                ]
            )
            log.info("registered %s v%d as id %d", subject, version, schema_id)
            return schema_id

    def set_level(self, subject: str | None, level: Level) -> Level:
        with self._lock:
            self._commit([(rec.config_key(subject), rec.config_value(level))])
            return level

    def delete_level(self, subject: str | None) -> Level:
        with self._lock:
            previous = self._levels.get(subject)
            if previous is None:
                if subject is not None:
                    raise errors.subject_not_found(subject)
                return self._default
            self._commit([(rec.config_key(subject), None)])
            return previous

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        with self._lock:
            every = self._live(subject, deleted=True)
            if not every:
                raise errors.subject_not_found(subject)
            live = [v for v in every if not v.deleted]
            if permanent:
                if live:
                    raise errors.subject_not_soft_deleted(subject)
                self._commit([(rec.schema_key(subject, v.version), None) for v in every])
                return [v.version for v in every]
            if not live:
                raise errors.subject_soft_deleted(subject)
            batch = [self._soft(v) for v in live]
            if subject in self._levels:  # Confluent drops the subject's level with the subject
                batch.append((rec.config_key(subject), None))
            self._commit(batch)
            return [v.version for v in live]

    def delete_version(self, subject: str, version: int, permanent: bool = False) -> int:
        with self._lock:
            # "latest" means the newest live version for a soft delete, the newest at all for a
            # hard one; a numbered version is found even when soft-deleted, to say so (40406).
            deleted = permanent or version != LATEST
            target = self.version(subject, version, deleted=deleted)
            if permanent:
                if not target.deleted:
                    raise errors.version_not_soft_deleted(subject, target.version)
                self._commit([(rec.schema_key(subject, target.version), None)])
            else:
                if target.deleted:
                    raise errors.version_soft_deleted(subject, target.version)
                self._commit([self._soft(target)])
            return target.version

    def _soft(self, v: Version) -> rec.Record:
        text = self._by_id[v.schema_id].text
        return (
            rec.schema_key(v.subject, v.version),
            rec.schema_value(v.subject, v.version, v.schema_id, text, deleted=True),
        )
