"""ONE background task that asks the read models "what changed since revision N" for all clients.

Every projector write takes the next value of the sequence `read_model_revision`, so one indexed
query per table per tick finds all changes, however many clients are connected. A revision is
taken when a row is written but becomes visible when its transaction commits, so a slow commit
can show up behind a higher revision already seen: each scan starts a little back (the highest
revision seen `push_overlap_s` ago), and rows already pushed are recognised by key and revision.

Scans run every `push_interval_s`, and at once when a writer's NOTIFY (sent at its commit on
`Settings.project.notify_channel`) arrives: the push lag is then the commit's, not half a poll
interval. The interval stays as the fallback if the listening connection is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from transitstream.config import Settings
from transitstream.serve import metrics
from transitstream.serve.cache import ReadCache, stop_tag, vehicle_tag
from transitstream.serve.db import fetch
from transitstream.serve.fanout import Delta, Filter, Hub, Json
from transitstream.serve.queries import (
    ANOMALY_COLUMNS,
    VEHICLE_COLUMNS,
    anomaly_model,
    arrivals_by_stop,
    eta_query,
    vehicle_model,
)
from transitstream.serve.reference import Reference
from transitstream.serve.window import RevisionWindow, Seen, SeenSets

log = logging.getLogger(__name__)

MIN_GAP_S = 0.02  # between two scans, however many NOTIFYs arrive
# The LISTEN connection only reads: if Postgres or the network vanishes without a FIN/RST (a
# host gone, a NAT entry dropped), nothing would ever fail, and the cache would trust a socket
# that hears no NOTIFY. TCP keepalives make the kernel notice within ~10 + 3 x 3 s (libpq's
# own parameters), and the connection then fails like any other.
LISTEN_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}

CHANGED_VEHICLES = (
    f"SELECT {VEHICLE_COLUMNS} FROM vehicle_state WHERE revision > %(low)s ORDER BY revision"
)
CHANGED_STOPS = (  # an ETA written, or removed by the projector (its stop logged with a revision)
    "SELECT stop_id, max(revision) AS revision, count(*) AS n, sum(revision) AS total FROM ("
    " SELECT stop_id, revision FROM stop_eta WHERE revision > %(low)s"
    " UNION ALL SELECT stop_id, revision FROM stop_eta_removed WHERE revision > %(low)s"
    ") AS changed GROUP BY stop_id"
)
CHANGED_ANOMALIES = (
    f"SELECT {ANOMALY_COLUMNS} FROM vehicle_anomaly WHERE revision > %(low)s ORDER BY revision"
)
START = (
    "SELECT greatest((SELECT max(revision) FROM vehicle_state),"
    " (SELECT max(revision) FROM stop_eta), (SELECT max(revision) FROM vehicle_anomaly),"
    " (SELECT max(revision) FROM stop_eta_removed), 0)"
    " AS revision"
)


def _vehicle_json(row: dict[str, Any], now: datetime, settings: Settings, ref: Reference) -> Json:
    return vehicle_model(row, now, settings.project.stale_after_s, ref).model_dump(mode="json")


def _anomaly_json(row: dict[str, Any]) -> Json:
    return {**anomaly_model(row).model_dump(mode="json"), "revision": row["revision"]}


async def boards(
    pool: AsyncConnectionPool, settings: Settings, ref: Reference, stops: list[str], now: datetime
) -> dict[str, list[Json]]:
    """The departure board of each stop, in one query; a stop with nothing coming maps to []."""
    if not stops:
        return {}
    api = settings.api
    rows = await fetch(
        pool, eta_query(stops, now, api.eta_grace_s, api.eta_max_age_s, api.eta_limit)
    )
    by_stop = arrivals_by_stop(rows, now, ref)
    return {s: [a.model_dump(mode="json") for a in by_stop.get(s, [])] for s in stops}


async def snapshot(
    pool: AsyncConnectionPool, settings: Settings, ref: Reference, f: Filter
) -> Json:
    """Everything a client's filter covers, now: the state it applies later deltas to."""
    now = datetime.now(UTC)
    where, params = "TRUE", {}
    if f.routes or f.vehicles:
        where = "route_id = ANY(%(routes)s) OR vehicle_id = ANY(%(vehicles)s)"
        params = {"routes": sorted(f.routes), "vehicles": sorted(f.vehicles)}
    vehicles = await fetch(
        pool,
        f"SELECT {VEHICLE_COLUMNS} FROM vehicle_state WHERE {where} ORDER BY vehicle_id",
        params,
    )
    anomalies = await fetch(
        pool,
        f"SELECT {ANOMALY_COLUMNS} FROM vehicle_anomaly WHERE state = 'open' AND ({where})",
        params,
    )  # the filter in SQL: a connect must not read the whole fleet's open anomalies
    return {
        "type": "snapshot",
        "filter": f.as_json(),
        "vehicles": [_vehicle_json(r, now, settings, ref) for r in vehicles],
        "etas": await boards(pool, settings, ref, sorted(f.stops), now),
        "anomalies": [_anomaly_json(a) for a in anomalies],
        "time": now.isoformat(),
    }


class Poller:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        hub: Hub,
        settings: Settings,
        ref: Reference,
        cache: ReadCache | None = None,
    ) -> None:
        self.pool, self.hub, self.settings, self.ref = pool, hub, settings, ref
        self.cache = cache or ReadCache(0)
        self.window: RevisionWindow | None = None
        self.vehicles, self.anomalies = Seen(), Seen()
        self.stops = SeenSets()
        self.board_vehicles: dict[str, set[str]] = {}  # watched stop -> vehicles on its board
        self.ticks = 0

    async def tick(self) -> Delta:
        """One scan of the three tables; publishes what changed, tells the read cache which
        keys changed, and returns the changes.

        Collect, then apply: the reads note what they find in the scan's own dicts (and its
        highest revision), and the window, `Seen`, `SeenSets` and the boards' vehicles take them
        only once every read has succeeded. A scan that fails halfway has published nothing,
        told the cache nothing and kept nothing, so the next one must report everything this one
        read. (Its `window.low` may have raised the floor, but only by the clock: the next
        scan's `low` would have anyway.)"""
        token = self.cache.scan_started()
        mono = time.monotonic()
        if self.window is None:
            start = (await fetch(self.pool, START))[0]["revision"]
            self.window = RevisionWindow(start, self.settings.api.push_overlap_s)
        window = self.window
        low = top = window.low(mono)
        now = datetime.now(UTC)
        changes = Delta()
        vehicles: dict[str, int] = {}
        for row in await fetch(self.pool, CHANGED_VEHICLES, {"low": low}):
            top = max(top, row["revision"])
            if self.vehicles.fresh(row["vehicle_id"], row["revision"], vehicles):
                changes.vehicles[row["vehicle_id"]] = _vehicle_json(
                    row, now, self.settings, self.ref
                )
        changed_stops = []
        stops: dict[str, tuple[int, int, int]] = {}
        for row in await fetch(self.pool, CHANGED_STOPS, {"low": low}):
            top = max(top, row["revision"])
            if self.stops.fresh(row["stop_id"], row["n"], row["total"], row["revision"], stops):
                changed_stops.append(row["stop_id"])
        watched = self.hub.watched_stops()
        # a board also changes when a bus on it moves on: redone as soon as the bus's own update
        # lands, before the projector's sweep deletes the passed ETA (and logs its stop)
        moved = {s for s, vs in self.board_vehicles.items() if vs & changes.vehicles.keys()}
        redo = sorted((set(changed_stops) | moved) & watched)
        changes.etas = await boards(self.pool, self.settings, self.ref, redo, now)
        anomalies: dict[str, int] = {}
        for row in await fetch(self.pool, CHANGED_ANOMALIES, {"low": low}):
            top = max(top, row["revision"])
            if self.anomalies.fresh(row["anomaly_id"], row["revision"], anomalies):
                changes.anomalies[row["anomaly_id"]] = _anomaly_json(row)
        # every read succeeded: from here on nothing fails, and the scan is kept
        window.saw(mono, top)  # (one mark for the scan's highest: all its marks share `mono`)
        self.vehicles.keep(vehicles)
        self.stops.keep(stops)
        self.anomalies.keep(anomalies)
        self.keep_boards(watched, changes.etas)
        tags = {stop_tag(s) for s in changed_stops}
        tags.update(vehicle_tag(v) for v in changes.vehicles)
        tags.update(vehicle_tag(a["vehicle_id"]) for a in changes.anomalies.values())
        self.cache.scan_done(token, tags)
        if self.ticks % 100 == 0:
            for seen in (self.vehicles, self.stops, self.anomalies):
                seen.forget_below(low)
        changes.revision = window.high
        self.ticks += 1
        if changes:
            self.hub.publish(changes)
        return changes

    def keep_boards(self, watched: set[str], etas: dict[str, list[Json]]) -> None:
        """The vehicles on each watched stop's board, as of the boards this scan redid."""
        for stop_id in self.board_vehicles.keys() - watched:
            del self.board_vehicles[stop_id]
        for stop_id, board in etas.items():
            self.board_vehicles[stop_id] = {a["vehicle_id"] for a in board}

    async def listen(self, wake: asyncio.Event) -> None:
        """Set `wake` on each NOTIFY of the channel; reconnects after a failure; until cancelled."""
        channel = self.settings.project.notify_channel
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    make_conninfo(self.settings.postgres.conninfo(), **LISTEN_KEEPALIVES),
                    autocommit=True,
                    connect_timeout=5,
                ) as conn:
                    await conn.execute(
                        psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
                    )
                    self.cache.set_listening(True)
                    wake.set()  # NOTIFYs sent while we were not listening: scan now
                    async for _ in conn.notifies():
                        self.cache.notify()
                        wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Postgres away: the interval polls go on meanwhile
                log.info("LISTEN %s failed (%s); polling every interval meanwhile", channel, exc)
            finally:
                self.cache.set_listening(False)  # before the pause: NOTIFYs go unnoticed now
            await asyncio.sleep(self.settings.api.push_interval_s * 4)

    async def run(self) -> None:
        """Until cancelled; a failed poll (Postgres down) is logged and retried next tick."""
        interval = self.settings.api.push_interval_s
        wake = asyncio.Event()
        listener = asyncio.create_task(self.listen(wake), name="read-model-listener")
        try:
            await self._loop(interval, wake)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _loop(self, interval: float, wake: asyncio.Event) -> None:
        failing = False
        while True:
            wake.clear()  # a NOTIFY from here on is after the scan began: it wakes the next one
            start = time.perf_counter()
            try:
                await self.tick()
                if failing:
                    log.warning("read-model polls work again")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.cache.scan_failed()
                metrics.POLL_ERRORS.inc()
                if not failing:  # once per outage, not twice a second
                    log.warning("read-model poll failed (%s); retrying every %s s", exc, interval)
                failing = True
            elapsed = time.perf_counter() - start
            metrics.POLL_SECONDS.observe(elapsed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), max(0.0, interval - elapsed))
            await asyncio.sleep(MIN_GAP_S)  # a burst of commits makes one scan, not hundreds
