"""Cached `/eta` and `/vehicles/{id}` answers: rows made into templates once, rendered each time.

Each render re-derives every time-dependent field with the request's own instant, so a cached
answer equals the one a fresh Postgres read at that instant would give:
- a board (`Board`) also re-applies the query's time filters: a row whose arrival passed more
  than `eta_grace_s` ago, or whose prediction is older than `eta_max_age_s`, leaves. A board is
  read once per stop (and route) with the limit it was read at (`Board.limit`), and each request
  takes its own `limit` first rows of it. If the board was full (as many rows as it was read
  with), rows behind it exist only in Postgres: a request for more rows than are still held is
  then a miss (None) and is read again; a board that was not full had nothing behind it, so it
  only loses rows (time alone never adds one: both filters only tighten as time passes);
- a vehicle (`VehicleAnswer`) re-derives `age_s` and `stale` (flagged, or silent too long).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from transitstream.serve.encode import Template, scalars
from transitstream.serve.models import Anomaly, EtaResponse, StopRef, Vehicle, VehicleDetail
from transitstream.serve.queries import Row, arrival_model, stale_by
from transitstream.serve.reference import Reference

ARRIVAL_SLOTS = ("seconds_away", "prediction_age_s")
BOARD_SLOTS = ("generated_at", "arrivals")
VEHICLE_SLOTS = ("age_s", "stale")


def utc(t: datetime) -> datetime:
    return t.astimezone(UTC)


@dataclass(frozen=True)
class BoardRow:
    template: Template
    predicted: datetime
    prediction: datetime
    gone_at: datetime  # after this instant the query leaves the row out


@dataclass(frozen=True)
class Board:
    head: Template
    rows: tuple[BoardRow, ...]
    limit: int  # the limit it was read with

    @classmethod
    def build(
        cls,
        stop: StopRef,
        rows: list[Row],
        now: datetime,
        ref: Reference,
        grace_s: float,
        max_age_s: float,
        limit: int,
    ) -> Board:
        grace, max_age = timedelta(seconds=grace_s), timedelta(seconds=max_age_s)
        held = []
        for r in rows:  # in UTC: arithmetic across two ZoneInfo datetimes costs 3x more
            predicted, prediction = utc(r["predicted_time"]), utc(r["prediction_time"])
            held.append(
                BoardRow(
                    Template(arrival_model(r, now, ref), ARRIVAL_SLOTS),
                    predicted,
                    prediction,
                    min(predicted + grace, prediction + max_age),
                )
            )
        head = Template(EtaResponse(stop=stop, generated_at=now, arrivals=[]), BOARD_SLOTS)
        return cls(head, tuple(held), limit)

    @property
    def full(self) -> bool:
        """As many rows as it was read with: more may wait behind them in Postgres."""
        return len(self.rows) >= self.limit

    def render(self, now: datetime, limit: int) -> bytes | None:
        """The `EtaResponse` JSON at `now` with at most `limit` arrivals, or None if only
        Postgres knows it (see the module)."""
        # the first `limit` still live: a board read at a large limit costs small ones nothing
        live = list(islice((r for r in self.rows if now <= r.gone_at), limit))
        if self.full and len(live) < limit:
            return None
        values: list[object] = [now]
        for r in live:
            values.append(round((r.predicted - now).total_seconds()))
            values.append(round((now - r.prediction).total_seconds(), 1))
        encoded = scalars(values)
        arrivals = b",".join(
            r.template.render(encoded[1 + 2 * i : 3 + 2 * i]) for i, r in enumerate(live)
        )
        return self.head.render([encoded[0], b"[" + arrivals + b"]"])


@dataclass(frozen=True)
class VehicleAnswer:
    template: Template
    event_time: datetime
    flagged: bool
    stale_after_s: float

    @classmethod
    def build(
        cls, vehicle: Vehicle, row: Row, anomalies: list[Anomaly], stale_after_s: float
    ) -> VehicleAnswer:
        detail = VehicleDetail(**vehicle.model_dump(), open_anomalies=anomalies)
        template = Template(detail, VEHICLE_SLOTS)
        return cls(template, utc(row["event_time"]), bool(row["stale"]), stale_after_s)

    def render(self, now: datetime) -> bytes:
        """The `VehicleDetail` JSON at `now`."""
        age = (now - self.event_time).total_seconds()
        stale = stale_by(self.flagged, age, self.stale_after_s)
        return self.template.render(scalars([round(age, 1), stale]))
