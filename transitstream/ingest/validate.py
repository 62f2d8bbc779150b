"""Validation of device input: every bad event gets a machine-readable code and a readable reason.

Pydantic does the checking (strict types, ranges, unknown fields); this module turns its errors
into the codes the dead-letter topic and the response carry, and adds the clock checks that
depend on when the event was received.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from transitstream.config import IngestSettings

# Event ids derived by the ingestor live in their own UUIDv5 namespace.
EVENT_ID_NAMESPACE = uuid.UUID("5f0c2d1e-7a0b-4c8e-9b57-3d1f6b1e2a90")
MIN_EPOCH_MS = 100_000_000_000  # 1973: anything smaller is almost surely seconds, not ms
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant datetime can hold


class BadTimestamp(ValueError):
    pass


def _shown(value: Any, limit: int = 40) -> str:
    """A value short enough for a reason: JSON allows integers thousands of digits long. (Not
    past Python's int max-str-digits, where str() would raise: `routes.parse` refuses a body
    with such a number, as json.loads does, before anything is validated.)"""
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text)} characters)"


def parse_ts(value: Any) -> int:
    """ISO-8601 (with zone, or UTC if none) or epoch milliseconds -> epoch milliseconds."""
    if isinstance(value, bool):
        raise BadTimestamp("ts must be ISO-8601 text or epoch milliseconds, not a boolean")
    if isinstance(value, float) and not math.isfinite(value):
        # JSON's 1e400 parses to inf: int() of it would raise OverflowError, a 500, not a 202/422.
        raise BadTimestamp(f"ts {value} is not a finite number of epoch milliseconds")
    if isinstance(value, int | float):
        if value > MAX_EPOCH_MS:
            # 1 followed by 400 zeros parses as an int; the clock checks' float division of it
            # would raise OverflowError, a 500 that keeps nothing.
            raise BadTimestamp(
                f"ts {_shown(value)} is after the year 9999; send epoch milliseconds"
            )
        if value < 0:
            raise BadTimestamp(f"ts {_shown(value)} is before 1970; send epoch milliseconds")
        if value < MIN_EPOCH_MS:
            raise BadTimestamp(f"ts {value} looks like seconds; send epoch milliseconds")
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadTimestamp(
                f"ts {_shown(repr(value))} is not ISO-8601 or epoch milliseconds"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    raise BadTimestamp(
        f"ts must be ISO-8601 text or epoch milliseconds, not {type(value).__name__}"
    )


StrictFloat = Annotated[float, Field(strict=True)]
Text = Annotated[str, Field(strict=True, min_length=1, max_length=128)]


class PositionIn(BaseModel):
    """One GPS fix as a device sends it (JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vehicle_id: Text
    lat: Annotated[float, Field(strict=True, ge=-90, le=90)]
    lon: Annotated[float, Field(strict=True, ge=-180, le=180)]
    ts: Annotated[int, BeforeValidator(parse_ts)]
    event_id: Text | None = None
    trip_id: Text | None = None
    route_id: Text | None = None
    speed: Annotated[float, Field(strict=True, ge=0, le=150)] | None = None
    bearing: Annotated[float, Field(strict=True, ge=0, lt=360)] | None = None
    accuracy: Annotated[float, Field(strict=True, ge=0, le=10_000)] | None = None


def derive_event_id(vehicle_id: str, event_time_ms: int) -> str:
    """Same vehicle and time, same id: a device's retry after a timeout dedupes downstream."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{vehicle_id}|{event_time_ms}"))


@dataclass(frozen=True)
class Rejection:
    code: str
    reason: str
    vehicle_id: str | None = None


_CODES = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "greater_than": "out_of_range",
    "less_than": "out_of_range",
    "string_too_short": "out_of_range",
    "string_too_long": "out_of_range",
}


def _rejection_from(exc: ValidationError, raw: dict[str, Any]) -> Rejection:
    codes, reasons = [], []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "event"
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, BadTimestamp):
            codes.append("bad_timestamp")
            reasons.append(f"{field}: {ctx_error}")
            continue
        codes.append(_CODES.get(err["type"], "wrong_type"))
        reasons.append(f"{field}: {err['msg'].lower()}")
    vehicle = raw.get("vehicle_id")
    return Rejection(codes[0], "; ".join(reasons), vehicle if isinstance(vehicle, str) else None)


def validate_event(
    raw: Any, received_ms: int, settings: IngestSettings
) -> tuple[dict[str, Any] | None, Rejection | None]:
    """A record ready for `vehicle.position.v1`, or the reason it cannot be one."""
    if not isinstance(raw, dict):
        return None, Rejection("not_an_object", f"an event must be a JSON object, not {_kind(raw)}")
    try:
        fix = PositionIn.model_validate(raw)
    except ValidationError as exc:
        return None, _rejection_from(exc, raw)
    if fix.ts > received_ms + settings.max_future_s * 1000:
        ahead = (fix.ts - received_ms) / 1000
        return None, Rejection(
            "too_far_in_future",
            f"ts is {ahead:.0f}s ahead of the server clock (limit {settings.max_future_s:.0f}s)",
            fix.vehicle_id,
        )
    if fix.ts < received_ms - settings.max_past_s * 1000:
        behind = (received_ms - fix.ts) / 1000
        return None, Rejection(
            "too_far_in_past",
            f"ts is {behind:.0f}s old (limit {settings.max_past_s:.0f}s)",
            fix.vehicle_id,
        )
    record = {
        "event_id": fix.event_id or derive_event_id(fix.vehicle_id, fix.ts),
        "vehicle_id": fix.vehicle_id,
        "trip_id": fix.trip_id,
        "route_id": fix.route_id,
        "lat": fix.lat,
        "lon": fix.lon,
        "bearing": fix.bearing,
        "speed": fix.speed,
        "accuracy": fix.accuracy,
        "event_time": fix.ts,
        "receive_time": received_ms,
    }
    return record, None


def _kind(value: Any) -> str:
    names = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "that")
