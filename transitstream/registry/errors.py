"""Confluent's error codes, so clients written for Confluent's registry branch on the same numbers.

The HTTP status is the first three digits of the code (40401 -> 404), as in Confluent's own
server; `error_code` and `message` go into the JSON body that `SchemaRegistryError` parses.
"""

from __future__ import annotations

from transitstream.errors import InfraError, TransitStreamError
from transitstream.registry.compat import Level


class RegistryError(TransitStreamError):
    """A request the registry refuses, rendered as Confluent's `{"error_code", "message"}` body."""

    def __init__(self, error_code: int, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.http_status = http_status or int(str(error_code)[:3])

    def body(self) -> dict[str, int | str]:
        return {"error_code": self.error_code, "message": self.message}


class RegistryStorageError(InfraError):
    """The `_schemas` topic could not be created, read or written; the message names the broker."""


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(40401, f"Subject '{subject}' not found.")


def version_not_found(version: int | str) -> RegistryError:
    return RegistryError(40402, f"Version {version} not found.")


def schema_not_found(detail: str = "Schema not found") -> RegistryError:
    return RegistryError(40403, detail)


def subject_soft_deleted(subject: str) -> RegistryError:
    return RegistryError(
        40404,
        f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently",
    )


def subject_not_soft_deleted(subject: str) -> RegistryError:
    return RegistryError(
        40405,
        f"Subject '{subject}' was not deleted first before being permanently deleted",
    )


def version_soft_deleted(subject: str, version: int) -> RegistryError:
    return RegistryError(
        40406,
        f"Subject '{subject}' Version {version} was soft deleted. "
        "Set permanent=true to delete permanently",
    )


def version_not_soft_deleted(subject: str, version: int) -> RegistryError:
    return RegistryError(
        40407,
        f"Subject '{subject}' Version {version} was not deleted first before being "
        "permanently deleted",
    )


def subject_config_not_found(subject: str) -> RegistryError:
    return RegistryError(
        40408,
        f"Subject '{subject}' does not have subject-level compatibility configured; "
        "pass defaultToGlobal=true to read the global level",
    )


def invalid_schema(detail: str) -> RegistryError:
    return RegistryError(42201, f"Invalid schema: {detail}")


def invalid_version(version: str) -> RegistryError:
    return RegistryError(
        42202,
        f"The specified version '{version}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"',
    )


def invalid_compatibility_level(level: object) -> RegistryError:
    allowed = ", ".join(level.value for level in Level)
    return RegistryError(42203, f"Invalid compatibility level {level!r}; use one of {allowed}")


def incompatible_schema(subject: str, details: list[str]) -> RegistryError:
    return RegistryError(
        409,
        f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
        f"details: [{', '.join(details)}]",
    )


def unsupported_media_type(content_type: str) -> RegistryError:
    return RegistryError(
        415,
        f"Unsupported Content-Type {content_type!r}; send application/vnd.schemaregistry.v1+json "
        "or application/json",
    )


def internal(detail: str) -> RegistryError:
    return RegistryError(50001, f"Error in the backend data store: {detail}", http_status=500)
