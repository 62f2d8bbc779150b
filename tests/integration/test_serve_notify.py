"""A projector's commit wakes the API's poller at once (LISTEN/NOTIFY), not at its next interval."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime

import pytest

from transitstream.config import Settings
from transitstream.serve.db import make_pool
from transitstream.serve.fanout import Delta
from transitstream.serve.poller import Poller
from transitstream.serve.reference import load_reference
from transitstream.serve.sample import delete_vehicles, write_rows

pytestmark = pytest.mark.integration


class Recorder:
    """Stands in for the WebSocket hub: the poller's only contact with the clients."""

    def __init__(self) -> None:
        self.published: list[Delta] = []

    def watched_stops(self) -> set[str]:
        return set()

    def publish(self, delta: Delta) -> None:
        self.published.append(delta)


def test_a_commit_wakes_the_poller_long_before_its_interval(stack: Settings) -> None:
    slow = stack.model_copy(update={"api": stack.api.model_copy(update={"push_interval_s": 30.0})})
    bus = f"t-notify-{uuid.uuid4().hex[:6]}"
    ref = load_reference(slow.gtfs_path, slow.api.shape_tolerance_m)

    async def scenario() -> float:
        pool = make_pool(slow)
        await pool.open()
        hub = Recorder()
        task = asyncio.create_task(Poller(pool, hub, slow, ref).run())  # type: ignore[arg-type]
        try:
            await asyncio.sleep(1.5)  # the first scan is done; the next is due in 30 s
            start = time.monotonic()
            fix = {"vehicle_id": bus, "route_id": "4", "lat": 35.04, "lon": -85.3,
                   "event_time": datetime.now(UTC)}  # fmt: skip
            await asyncio.to_thread(write_rows, slow, vehicles=[fix])
            while not any(bus in d.vehicles for d in hub.published):
                assert time.monotonic() - start < 10, "no scan before the interval"
                await asyncio.sleep(0.02)
            return time.monotonic() - start
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await pool.close()

    try:
        lag = asyncio.run(scenario())
    finally:
        delete_vehicles(slow, bus)
    assert lag < 2.0, f"pushed {lag:.2f} s after the commit (interval 30 s)"
