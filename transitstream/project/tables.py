"""The read-model tables as data: which topic feeds each, its columns, its key, and how two
versions of a row combine. Pure logic, no I/O, so the ordering rules are unit-tested directly.

The merge rules are the SQL upserts' rules (see `sql.py`), written once more in Python so that a
batch can be coalesced before it reaches Postgres: folding a batch with `merge` and then upserting
the result gives the same row as upserting every record one by one, in log order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from transitstream.config import Settings
from transitstream.errors import TransitStreamError

Row = tuple[Any, ...]
ANOMALY_STATES = ("open", "closed", "instant")
TERMINAL = ("closed", "instant")


class InvalidRecord(ValueError):
    """A decoded record the read model cannot hold; it goes to the projector's DLQ."""


@dataclass(frozen=True)
class Table:
    """One read model. `order` is the column whose larger value wins (event time)."""

    name: str
    projector: str
    topic_of: Callable[[Settings], str]
    columns: tuple[str, ...]
    key: tuple[str, ...]
    order: str  # the columns are the business columns: what a checksum compares
    to_row: Callable[[Mapping[str, Any]], Row]
    merge: Callable[[Row, Row], Row]

    _key: Callable[[Row], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        getter = itemgetter(*(self.columns.index(c) for c in self.key))
        single = len(self.key) == 1
        # hot path (every record): one C-level call, always a tuple
        object.__setattr__(self, "_key", (lambda r: (getter(r),)) if single else getter)

    def index(self, column: str) -> int:
        return self.columns.index(column)

    def key_of(self, row: Row) -> tuple[Any, ...]:
        return self._key(row)


def _newer_wins(order_idx: int) -> Callable[[Row, Row], Row]:
    """Strictly newer replaces; on a tie the row already there stays (as the SQL `>` does)."""

    def merge(cur: Row, new: Row) -> Row:
        return new if new[order_idx] > cur[order_idx] else cur

    return merge


def _required(value: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    for f in fields:
        if value.get(f) is None:
            missing = [f for f in fields if value.get(f) is None]
            raise InvalidRecord(f"missing required field(s) {', '.join(missing)}")


VEHICLE_COLUMNS = (
    "vehicle_id", "route_id", "route_name", "trip_id", "lat", "lon", "bearing", "speed",
    "distance_along_m", "offset_m", "delay_s", "next_stop_id", "next_stop_sequence", "event_id",
    "event_time",
)  # fmt: skip


VEHICLE_REQUIRED = ("vehicle_id", "lat", "lon", "event_id", "event_time")
VEHICLE_FIELDS = tuple("schedule_deviation_s" if c == "delay_s" else c for c in VEHICLE_COLUMNS)


def vehicle_row(v: Mapping[str, Any]) -> Row:
    _required(v, VEHICLE_REQUIRED)
    get = v.get
    return tuple([get(c) for c in VEHICLE_FIELDS])


ETA_COLUMNS = (
    "vehicle_id", "trip_id", "stop_sequence", "stop_id", "route_id", "predicted_time",
    "prediction_time", "horizon_s", "scheduled_time", "model",
)  # fmt: skip


ETA_REQUIRED = tuple(c for c in ETA_COLUMNS if c != "scheduled_time")


def eta_row(v: Mapping[str, Any]) -> Row:
    _required(v, ETA_REQUIRED)
    get = v.get
    return tuple([get(c) for c in ETA_COLUMNS])


ANOMALY_COLUMNS = (
    "anomaly_id", "kind", "state", "severity", "vehicle_id", "trip_id", "route_id", "opened_at",
    "closed_at", "event_time", "lat", "lon", "evidence",
)  # fmt: skip
A = {c: i for i, c in enumerate(ANOMALY_COLUMNS)}


def opened_at(v: Mapping[str, Any]) -> datetime:
    """An open record opens at its event time; a close record carries the duration it was open
    (so a close seen before its open, or without it, still knows when the anomaly began)."""
    event_time: datetime = v["event_time"]
    if v["state"] != "closed":
        return event_time
    try:
        duration_ms = round(float(v.get("evidence", {}).get("duration_s", 0)) * 1000)
    except (TypeError, ValueError):
        duration_ms = 0
    return event_time - timedelta(milliseconds=max(duration_ms, 0))


def anomaly_row(v: Mapping[str, Any]) -> Row:
    _required(v, ("anomaly_id", "kind", "state", "severity", "vehicle_id", "event_time"))
    if v["state"] not in ANOMALY_STATES:
        raise InvalidRecord(f"anomaly state {v['state']!r} is not one of {ANOMALY_STATES}")
    closed_at = v["event_time"] if v["state"] in TERMINAL else None
    derived = {"opened_at": opened_at(v), "closed_at": closed_at, "evidence": v.get("evidence", {})}
    return tuple(derived[c] if c in derived else v.get(c) for c in ANOMALY_COLUMNS)


def merge_anomaly(cur: Row, new: Row) -> Row:
    """Open and close records of one anomaly in any order: a closed (or instant) anomaly never
    reopens, it opened at the earliest time seen, and the newest record gives the details."""
    newer = new[A["event_time"]] > cur[A["event_time"]]
    out = list(new if newer else cur)
    out[A["state"]] = cur[A["state"]] if cur[A["state"]] in TERMINAL else new[A["state"]]
    out[A["opened_at"]] = min(cur[A["opened_at"]], new[A["opened_at"]])
    closed = cur[A["closed_at"]]
    out[A["closed_at"]] = closed if closed is not None else new[A["closed_at"]]
    out[A["event_time"]] = max(cur[A["event_time"]], new[A["event_time"]])
    return tuple(out)


VEHICLES = Table(
    name="vehicle_state",
    projector="vehicles",
    topic_of=lambda s: s.topics.enriched,
    columns=VEHICLE_COLUMNS,
    key=("vehicle_id",),
    order="event_time",
    to_row=vehicle_row,
    merge=_newer_wins(VEHICLE_COLUMNS.index("event_time")),
)
ETAS = Table(
    name="stop_eta",
    projector="etas",
    topic_of=lambda s: s.topics.eta,
    columns=ETA_COLUMNS,
    key=("vehicle_id", "trip_id", "stop_sequence"),
    order="prediction_time",
    to_row=eta_row,
    merge=_newer_wins(ETA_COLUMNS.index("prediction_time")),
)
ANOMALIES = Table(
    name="vehicle_anomaly",
    projector="anomalies",
    topic_of=lambda s: s.topics.anomaly,
    columns=ANOMALY_COLUMNS,
    key=("anomaly_id",),
    order="event_time",
    to_row=anomaly_row,
    merge=merge_anomaly,
)
TABLES = {t.projector: t for t in (VEHICLES, ETAS, ANOMALIES)}


def select(names: str | list[str] | tuple[str, ...] | None) -> list[Table]:
    """Tables by projector name; `all`, empty or None means every one."""
    if names is None or names == "all" or not names:
        return list(TABLES.values())
    wanted = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in wanted if n not in TABLES and n != "all"]
    if unknown:
        raise TransitStreamError(
            f"no projector {', '.join(unknown)}; choose from all, {', '.join(TABLES)}"
        )
    if "all" in wanted:
        return list(TABLES.values())
    return [TABLES[n] for n in wanted]
