"""Compatibility levels and registration rules of `transitstream.registry`, without Kafka.

The decisions themselves come from Avro's checker; these tests pin down which pairs each level
checks and in which direction, and how the store turns them into ids, versions and error codes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from transitstream.registry import errors
from transitstream.registry.compat import (
    Level,
    PriorVersion,
    SchemaParseError,
    check,
    parse_schema,
)
from transitstream.registry.records import Record
from transitstream.registry.store import LATEST, SchemaStore


def record(*fields: dict[str, Any], name: str = "Ping") -> str:
    return json.dumps({"type": "record", "name": name, "fields": list(fields)})


X = {"name": "x", "type": "int"}
Y = {"name": "y", "type": "int"}
Y_DEFAULT = {"name": "y", "type": "int", "default": 0}

ONLY_X = record(X)
X_Y = record(X, Y)
X_Y_DEFAULT = record(X, Y_DEFAULT)
X_LONG = record({"name": "x", "type": "long"})
X_STRING = record({"name": "x", "type": "string"})


def verdict(level: Level, new: str, *prior: str) -> bool:
    history = [PriorVersion(i + 1, parse_schema(s).schema) for i, s in enumerate(prior)]
    return not check(level, parse_schema(new).schema, history)


# (old, new) pairs and whether each direction holds: backward = new reads old data,
# forward = old reads new data.
PAIRS = {
    "add field with default": (ONLY_X, X_Y_DEFAULT, True, True),
    "add field without default": (ONLY_X, X_Y, False, True),
    "remove field without default": (X_Y, ONLY_X, True, False),
    "remove field with default": (X_Y_DEFAULT, ONLY_X, True, True),
    "promote int to long": (ONLY_X, X_LONG, True, False),
    "change int to string": (ONLY_X, X_STRING, False, False),
}


@pytest.mark.parametrize("case", PAIRS)
@pytest.mark.parametrize("level", list(Level))
def test_each_level_on_one_step(level: Level, case: str) -> None:
    old, new, backward, forward = PAIRS[case]
    expected = {
        Level.NONE: True,
        Level.BACKWARD: backward,
        Level.BACKWARD_TRANSITIVE: backward,
        Level.FORWARD: forward,
        Level.FORWARD_TRANSITIVE: forward,
        Level.FULL: backward and forward,
        Level.FULL_TRANSITIVE: backward and forward,
    }[level]
    assert verdict(level, new, old) is expected


def test_enum_symbols_added_are_backward_only() -> None:
    def enum(*symbols: str) -> str:
        return json.dumps({"type": "enum", "name": "Mode", "symbols": list(symbols)})

    assert verdict(Level.BACKWARD, enum("BUS", "TRAM"), enum("BUS")) is True
    assert verdict(Level.FORWARD, enum("BUS", "TRAM"), enum("BUS")) is False


def test_transitive_levels_look_past_the_latest_version() -> None:
    # v2 gives y a default, v3 drops it: each step is BACKWARD, but v3 cannot read v1's data.
    assert verdict(Level.BACKWARD, X_Y, ONLY_X, X_Y_DEFAULT) is True
    assert verdict(Level.BACKWARD_TRANSITIVE, X_Y, ONLY_X, X_Y_DEFAULT) is False
    # Mirror image: v1 cannot read data written by v3, although v2 can.
    assert verdict(Level.FORWARD, ONLY_X, X_Y, X_Y_DEFAULT) is True
    assert verdict(Level.FORWARD_TRANSITIVE, ONLY_X, X_Y, X_Y_DEFAULT) is False
    assert verdict(Level.FULL, ONLY_X, X_Y, X_Y_DEFAULT) is True
    assert verdict(Level.FULL_TRANSITIVE, ONLY_X, X_Y, X_Y_DEFAULT) is False


def test_first_version_is_always_compatible() -> None:
    assert all(verdict(level, X_STRING) for level in Level)


def test_problems_name_the_version_and_level() -> None:
    problems = check(
        Level.BACKWARD, parse_schema(X_Y).schema, [PriorVersion(3, parse_schema(ONLY_X).schema)]
    )
    assert any("READER_FIELD_MISSING_DEFAULT_VALUE" in p for p in problems)
    assert "{oldSchemaVersion: 3}" in problems
    assert problems[-1] == "{compatibility: 'BACKWARD'}"


def test_level_parsing() -> None:
    assert Level.parse("full_transitive") is Level.FULL_TRANSITIVE
    assert Level.parse("SIDEWAYS") is None
    assert Level.parse(None) is None


def test_formatting_does_not_change_identity_but_defaults_do() -> None:
    compact = parse_schema(X_Y_DEFAULT)
    pretty = parse_schema(json.dumps(json.loads(X_Y_DEFAULT), indent=4))
    assert compact.canonical == pretty.canonical
    assert parse_schema(X_Y).canonical != compact.canonical


@pytest.mark.parametrize("text", ["", "{", '"not_a_type"', '{"type": "record", "name": "R"}', "42"])
def test_invalid_schemas_raise_parse_error(text: str) -> None:
    with pytest.raises(SchemaParseError):
        parse_schema(text)


# ---- the store's registration rules, over an in-memory log -----------------------------------
class MemoryLog:
    """The topic as a list; `fail` makes the next append fail, as a broker outage would."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.fail = False

    def replay(self) -> list[Record]:
        return list(self.records)

    def append(self, records: Sequence[Record]) -> list[str | None]:
        if self.fail:
            return ["broker down"] * len(records)
        self.records.extend(records)
        return [None] * len(records)


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def store(log: MemoryLog) -> SchemaStore:
    return SchemaStore(log, Level.BACKWARD)


def code_of(call: Any, *args: Any) -> int:
    with pytest.raises(errors.RegistryError) as exc:
        call(*args)
    return exc.value.error_code


def test_register_is_idempotent_and_ids_are_global(store: SchemaStore) -> None:
    first = store.register("a", parse_schema(ONLY_X))
    assert store.register("a", parse_schema(json.dumps(json.loads(ONLY_X), indent=2))) == first
    assert store.register("b", parse_schema(ONLY_X)) == first
    assert store.register("a", parse_schema(X_Y_DEFAULT)) == first + 1
    assert [v.version for v in store.versions("a")] == [1, 2]


def test_incompatible_schema_is_409_and_not_stored(store: SchemaStore, log: MemoryLog) -> None:
    store.register("a", parse_schema(ONLY_X))
    assert code_of(store.register, "a", parse_schema(X_Y)) == 409
    assert len(log.records) == 1
    store.set_level("a", Level.NONE)
    assert store.register("a", parse_schema(X_Y)) > 0


def test_failed_write_leaves_memory_unchanged(store: SchemaStore, log: MemoryLog) -> None:
    log.fail = True
    assert code_of(store.register, "a", parse_schema(ONLY_X)) == 50001
    assert store.subjects() == []


def test_delete_codes(store: SchemaStore) -> None:
    store.register("a", parse_schema(ONLY_X))
    store.register("a", parse_schema(X_Y_DEFAULT))
    assert code_of(store.delete_subject, "a", True) == 40405
    assert code_of(store.delete_version, "a", 1, True) == 40407
    assert store.delete_version("a", 1) == 1
    assert code_of(store.delete_version, "a", 1) == 40406
    assert store.delete_subject("a") == [2]
    assert code_of(store.delete_subject, "a") == 40404
    assert code_of(store.version, "a", LATEST) == 40401
    assert store.delete_subject("a", permanent=True) == [1, 2]
    assert code_of(store.delete_subject, "a") == 40401
    assert code_of(store.schema, 1) == 40403


def test_soft_delete_keeps_version_numbers_and_drops_subject_level(store: SchemaStore) -> None:
    store.register("a", parse_schema(ONLY_X))
    store.set_level("a", Level.FULL)
    store.delete_subject("a")
    assert code_of(store.level, "a", False) == 40408
    store.register("a", parse_schema(X_STRING))
    assert [v.version for v in store.versions("a")] == [2]


def test_replay_rebuilds_the_same_state(store: SchemaStore, log: MemoryLog) -> None:
    store.register("a", parse_schema(ONLY_X))
    store.register("a", parse_schema(X_Y_DEFAULT))
    store.register("b", parse_schema(X_STRING))
    store.set_level("b", Level.NONE)
    store.set_level(None, Level.FULL)
    store.delete_version("a", 1)
    store.delete_subject("b")
    store.delete_subject("b", permanent=True)

    again = SchemaStore(log, Level.BACKWARD)
    again.load()
    assert again.subjects(deleted=True) == store.subjects(deleted=True) == ["a"]
    assert again.versions("a", deleted=True) == store.versions("a", deleted=True)
    assert again.level(None) is Level.FULL
    assert again.stats() == store.stats()
    # The highest id ever written is not handed out again while its record is in the log.
    assert again.register("c", parse_schema(X_LONG)) == 4
