"""Schema parsing, identity and compatibility, decided by Apache Avro's own checker.

Writing compatibility rules by hand is how registries drift from what readers can actually
decode; `avro.compatibility.ReaderWriterCompatibilityChecker` is the reference implementation
ported from Java, so this module only chooses *which* pairs to check for each level.
This module is pure (no I/O) so the rules are unit-tested without Kafka.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType


class Level(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def checks_backward(self) -> bool:
        """New schema must read data written with the old one (consumers upgrade first)."""
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def checks_forward(self) -> bool:
        """Old schema must read data written with the new one (producers upgrade first)."""
        return self.value.startswith(("FORWARD", "FULL"))

    @classmethod
    def parse(cls, value: object) -> Level | None:
        """Case-insensitive, as Confluent's server accepts `backward`; None if not a level."""
        if not isinstance(value, str):
            return None
        try:
            return cls(value.strip().upper())
        except ValueError:
            return None


class SchemaParseError(ValueError):
    """The text is not JSON, or not a schema Avro accepts; the message says which."""


@dataclass(frozen=True)
class ParsedSchema:
    """A schema as posted (`text`), its identity (`canonical`) and Avro's parsed object.

    `canonical` is the parsed schema re-serialised with sorted keys and no whitespace, so
    formatting differences map to the same id while `doc`, defaults and aliases still count
    (Avro's Parsing Canonical Form drops defaults, which would merge schemas readers treat
    differently).
    """

    text: str
    canonical: str
    schema: avro.schema.Schema = field(compare=False, repr=False)


def parse_schema(text: str) -> ParsedSchema:
    if not isinstance(text, str) or not text.strip():
        raise SchemaParseError("the schema is empty; send the Avro schema as a JSON string")
    try:
        as_json = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaParseError(f"not valid JSON ({exc})") from None
    try:
        schema = avro.schema.parse(text)
    except (avro.errors.AvroException, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise SchemaParseError(str(exc) or type(exc).__name__) from None
    compact = json.dumps(as_json, separators=(",", ":"), ensure_ascii=False)
    canonical = json.dumps(
        schema.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return ParsedSchema(text=compact, canonical=canonical, schema=schema)


def reader_can_read(reader: avro.schema.Schema, writer: avro.schema.Schema) -> list[str]:
    """Problems Avro finds when `reader` decodes data written with `writer`; empty if none.

    A fresh checker per pair: it memoises by object identity, so reuse across pairs would
    let an earlier answer leak into a later one.
    """
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    # Avro reports kinds, messages and locations as separate collections, not as triples.
    kinds = ",".join(sorted({i.name.upper() for i in result.incompatibilities})) or "UNKNOWN"
    messages = "; ".join(sorted(str(m) for m in result.messages)) or "incompatible"
    locations = ", ".join(sorted(result.locations)) or "/"
    return [f"{{errorType:'{kinds}', description:'{messages}', location:'{locations}'}}"]


@dataclass(frozen=True)
class PriorVersion:
    version: int
    schema: avro.schema.Schema


def check(level: Level, new: avro.schema.Schema, prior: Sequence[PriorVersion]) -> list[str]:
    """Why `new` may not follow `prior` (oldest first, deleted versions excluded) under `level`.

    Non-transitive levels compare with the latest version only, as Confluent does: the chain
    v1 -> v2 -> v3 may then hold pairwise while v3 cannot read v1.
    """
    if level is Level.NONE or not prior:
        return []
    against = prior if level.transitive else prior[-1:]
    problems: list[str] = []
    for old in reversed(against):
        found: list[str] = []
        if level.checks_backward:
            found += reader_can_read(reader=new, writer=old.schema)
        if level.checks_forward:
            found += reader_can_read(reader=old.schema, writer=new)
        if found:
            problems += [*found, f"{{oldSchemaVersion: {old.version}}}"]
    if problems:
        problems.append(f"{{compatibility: '{level.value}'}}")
    return problems
