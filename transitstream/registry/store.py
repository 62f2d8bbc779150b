"""Registry operations: each write goes to the log first, then into memory.

A write changes memory only through `apply`, after Kafka acknowledged it, so a failed write
leaves no trace and a replay reproduces exactly what was served. The state's lock is held
across the write: ids and version numbers are allocated from the state it protects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from transitstream.registry import errors
from transitstream.registry import records as rec
from transitstream.registry.compat import Level, ParsedSchema, PriorVersion, check
from transitstream.registry.state import LATEST, RegistryState, Version

log = logging.getLogger(__name__)

__all__ = ["LATEST", "RecordLog", "SchemaStore", "Version"]


class RecordLog(Protocol):
    def replay(self) -> Iterable[tuple[bytes | None, bytes | None]]: ...

    def append(self, records: Sequence[rec.Record]) -> list[str | None]: ...


class SchemaStore(RegistryState):
    def __init__(self, log_: RecordLog, default_level: Level) -> None:
        super().__init__(default_level)
        self._log = log_

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

    # ---- compatibility ---------------------------------------------------------------------
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
