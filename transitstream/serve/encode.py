"""JSON answers as templates: the static bytes encoded once, the time-dependent fields per request.

An `/eta` board or a vehicle changes only when the poller says so, but `seconds_away`, the ages,
`stale` and `generated_at` depend on the instant of the request. Building the pydantic models
and encoding them for every request cost about 150 us for a 10-row board; a `Template` holds the
model's JSON cut at its time-dependent fields ("slots"), and `render` splices the values in (a few
us). The static parts come from the model's own `model_dump_json`, and the slot values from
pydantic's serializer too, so the bytes are exactly what `model_dump_json` of the complete model
would give (tests/unit/test_serve_cache.py checks that).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter

_SCALARS: TypeAdapter[list[Any]] = TypeAdapter(list[Any])


class Template:
    """A model's JSON with `slots` (field names) left open, in the model's own field order."""

    def __init__(self, model: BaseModel, slots: Sequence[str]) -> None:
        names = list(type(model).model_fields)
        missing = set(slots) - set(names)
        if missing:
            raise ValueError(f"{type(model).__name__} has no field(s) {sorted(missing)}")
        self.slots = tuple(n for n in names if n in slots)  # render takes values in this order
        chunks: list[str] = []
        current, first, run = "{", True, []
        for name in [*names, None]:
            if name is not None and name not in slots:
                run.append(name)
                continue
            if run:  # consecutive static fields, encoded in one go
                current += ("" if first else ",") + model.model_dump_json(include=set(run))[1:-1]
                first, run = False, []
            if name is None:
                break
            current += ("" if first else ",") + json.dumps(name) + ":"
            chunks.append(current)
            current, first = "", False
        chunks.append(current + "}")
        self.chunks = [c.encode() for c in chunks]

    def render(self, values: Sequence[bytes]) -> bytes:
        """The JSON with the encoded `values` (one per slot, in `self.slots` order) spliced in."""
        parts = [self.chunks[0]]
        for value, chunk in zip(values, self.chunks[1:], strict=True):
            parts.append(value)
            parts.append(chunk)
        return b"".join(parts)


def scalars(values: Sequence[Any]) -> list[bytes]:
    """Numbers, booleans and datetimes encoded as pydantic encodes them, in one call.

    None of these encodings contains a comma, so the encoded list splits back into its items.
    """
    if not values:
        return []
    return _SCALARS.dump_json(list(values))[1:-1].split(b",")
