"""Request bodies as Confluent's clients send them, parsed into the registry's own types.

Bodies are parsed here rather than by FastAPI's automatic validation so that every malformed
request gets Confluent's error code (42201, 42203) instead of FastAPI's own 422 layout.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from transitstream.registry import errors
from transitstream.registry.compat import Level, ParsedSchema, SchemaParseError, parse_schema

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPTED_CONTENT_TYPES = frozenset(
    {
        MEDIA_TYPE,
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",
    }
)
SUPPORTED_SCHEMA_TYPES = ("AVRO",)


class SchemaRequest(BaseModel):
    """`POST /subjects/{s}/versions`, `POST /subjects/{s}` and compatibility checks.

    Extra fields (`metadata`, `ruleSet`, `id`, `version`) are accepted and ignored, as a
    registry without data contracts must, since recent clients always send some of them.
    """

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    schema_text: str = Field(alias="schema")
    schema_type: str | None = Field("AVRO", alias="schemaType")
    references: list[dict[str, Any]] | None = None

    def parsed(self) -> ParsedSchema:
        kind = (self.schema_type or "AVRO").upper()
        if kind not in SUPPORTED_SCHEMA_TYPES:
            raise errors.invalid_schema(
                f"schemaType {self.schema_type!r} is not supported here; this registry stores "
                f"{', '.join(SUPPORTED_SCHEMA_TYPES)} schemas only"
            )
        if self.references:
            raise errors.invalid_schema(
                "schema references are not supported by this registry; inline the named types"
            )
        try:
            return parse_schema(self.schema_text)
        except SchemaParseError as exc:
            raise errors.invalid_schema(str(exc)) from None


def check_content_type(content_type: str | None) -> None:
    if not content_type:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in ACCEPTED_CONTENT_TYPES:
        raise errors.unsupported_media_type(content_type)


def decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.RegistryError(400, f"Malformed JSON body: {exc}") from None


def schema_request(body: Any) -> ParsedSchema:
    if not isinstance(body, dict):
        raise errors.invalid_schema('send a JSON object like {"schema": "<avro schema json>"}')
    try:
        return SchemaRequest.model_validate(body).parsed()
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise errors.invalid_schema(detail) from None


def level_request(body: Any) -> Level:
    raw = body.get("compatibility") if isinstance(body, dict) else None
    level = Level.parse(raw)
    if level is None:
        raise errors.invalid_compatibility_level(raw)
    return level
