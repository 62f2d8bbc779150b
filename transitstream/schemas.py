"""The Avro schemas in `schemas/`, their subjects, and serializer factories.

Subjects follow Confluent's TopicNameStrategy (`<topic>-value`), so Confluent's tools and our
registry see the same names. Schemas are registered explicitly at start-up and serializers are
built with `auto.register.schemas=False`: a producer never invents a schema version by accident.
"""

from __future__ import annotations

import json
from pathlib import Path

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer

from transitstream.config import Settings
from transitstream.errors import TransitStreamError


def topic_schemas(settings: Settings) -> dict[str, str]:
    """topic -> schema file stem; the topic names come from Settings, the files from `schemas/`."""
    t = settings.topics
    return {
        t.position: "vehicle.position.v1",
        t.position_dlq: "vehicle.position.dlq",
        t.enriched: "vehicle.enriched.v1",
        t.eta: "stop.eta.v1",
        t.anomaly: "vehicle.anomaly.v1",
    }


def subject(topic: str) -> str:
    return f"{topic}-value"


def schema_path(settings: Settings, name: str) -> Path:
    return settings.schemas_dir / f"{name}.avsc"


def load(settings: Settings, name: str) -> str:
    path = schema_path(settings, name)
    try:
        return path.read_text()
    except FileNotFoundError:
        raise TransitStreamError(
            f"schema {name} not found at {path}: set TRANSITSTREAM_SCHEMAS_DIR to the "
            "folder holding the .avsc files (the repository's schemas/)."
        ) from None


def registry_client(settings: Settings) -> SchemaRegistryClient:
    return SchemaRegistryClient(settings.registry_config())


def register_all(client: SchemaRegistryClient, settings: Settings) -> dict[str, int]:
    """Register every topic's schema under its subject; idempotent (same schema, same id)."""
    return {
        subject(topic): client.register_schema(subject(topic), Schema(load(settings, name), "AVRO"))
        for topic, name in topic_schemas(settings).items()
    }


def serializer(client: SchemaRegistryClient, settings: Settings, topic: str) -> AvroSerializer:
    schema = load(settings, topic_schemas(settings)[topic])
    return AvroSerializer(client, schema, conf={"auto.register.schemas": False})


def deserializer(client: SchemaRegistryClient) -> AvroDeserializer:
    """Reads any version: the writer's schema comes from the id in each message."""
    return AvroDeserializer(client)


def describe(settings: Settings, name: str) -> list[tuple[str, str, str]]:
    """(field, Avro type, doc) of each field: the schema as documentation for people."""

    def type_name(t: object) -> str:
        if isinstance(t, list):
            return " | ".join(type_name(x) for x in t)
        if isinstance(t, dict):
            return str(t.get("logicalType") or t.get("type"))
        return str(t)

    record = json.loads(load(settings, name))
    return [(f["name"], type_name(f["type"]), f.get("doc", "")) for f in record["fields"]]
