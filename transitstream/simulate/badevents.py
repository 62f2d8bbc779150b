"""Bad input a real fleet sends: broken fields, wrong clocks, wrong shapes, garbage bodies.

Each kind is made from a good event, so it is realistic (a real vehicle, a plausible time) and
fails for exactly one reason; `EXPECTED_CODE` is the code the ingestor's validation must give
it, which is what lets a test compare what was injected with what was rejected.
"""

from __future__ import annotations

import json
import random
from typing import Any

from transitstream.simulate.params import SimParams

EXPECTED_CODE: dict[str, str] = {
    "missing_field": "missing_field",
    "out_of_range": "out_of_range",
    "wrong_type": "wrong_type",
    "unknown_field": "unknown_field",
    "future_ts": "too_far_in_future",
    "seconds_ts": "bad_timestamp",
    "not_an_object": "not_an_object",
}
"""Per-event kinds and the ingestor's rejection code for each."""
NOT_JSON = "not_json"
"""A whole body that is not JSON, posted to the batch endpoint (rejected with 400)."""
FUTURE_SHIFT_MS = 3 * 86_400_000
"""Far enough ahead that it is in the future even for events near the 2-day past limit."""
_UNKNOWN = ("temperature_c", "odometer_km", "driver", "door_open", "occupancy")
_REQUIRED = ("vehicle_id", "lat", "lon", "ts")


def kind_rates(params: SimParams) -> dict[str, float]:
    """Per-kind probability per good event: an explicit rate, else an even share of bad_rate."""
    unknown = set(params.bad_rates) - set(EXPECTED_CODE) - {NOT_JSON}
    if unknown:
        raise ValueError(f"unknown bad-event kind(s) {sorted(unknown)}; known: {all_kinds()}")
    share = params.bad_rate / len(EXPECTED_CODE)
    return {kind: params.bad_rates.get(kind, share) for kind in EXPECTED_CODE}


def all_kinds() -> list[str]:
    return [*EXPECTED_CODE, NOT_JSON]


def make_bad(kind: str, good: dict[str, Any], rng: random.Random) -> Any:
    """A copy of `good` broken in the one way `kind` names. It carries no event_id, so it can
    never be mistaken downstream for the good event it was made from."""
    bad = {k: v for k, v in good.items() if k != "event_id"}
    if kind == "missing_field":
        del bad[rng.choice(_REQUIRED)]
    elif kind == "out_of_range":
        if rng.random() < 0.5:
            bad["lat"] = round(rng.choice((1, -1)) * rng.uniform(90.5, 180.0), 6)
        else:
            bad["lon"] = round(rng.choice((1, -1)) * rng.uniform(180.5, 360.0), 6)
    elif kind == "wrong_type":
        field = rng.choice(("lat", "lon"))
        bad[field] = str(bad[field])
    elif kind == "unknown_field":
        bad[rng.choice(_UNKNOWN)] = round(rng.uniform(0, 100), 1)
    elif kind == "future_ts":
        bad["ts"] = bad["ts"] + FUTURE_SHIFT_MS
    elif kind == "seconds_ts":
        bad["ts"] = bad["ts"] // 1000
    elif kind == "not_an_object":
        return rng.choice(
            (json.dumps(bad), [bad["lat"], bad["lon"]], bad["ts"], None, bad["vehicle_id"])
        )
    else:
        raise ValueError(f"unknown bad-event kind {kind!r}")
    return bad


def not_json_body(good: dict[str, Any] | None, rng: random.Random) -> bytes:
    """A body a broken client or proxy might send: truncated JSON, a form, Latin-1 text."""
    good = good or {"vehicle_id": "bus-000", "lat": 35.0, "lon": -85.3}
    text = json.dumps([good])
    choice = rng.randrange(3)
    if choice == 0:
        return text[: max(2, len(text) // 2)].encode()
    if choice == 1:
        return "&".join(f"{k}={v}" for k, v in good.items()).encode()
    # Not UTF-16 with a BOM: json.loads would decode that happily. Latin-1 is invalid UTF-8.
    return json.dumps([{**good, "driver": "José"}], ensure_ascii=False).encode("latin-1")
