"""Where the poller's next scan starts, and how it recognises rows it already pushed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from transitstream.config import load_settings
from transitstream.serve import poller
from transitstream.serve.cache import ReadCache, stop_tag, vehicle_tag
from transitstream.serve.fanout import Filter, Hub
from transitstream.serve.window import RevisionWindow, Seen


def test_scan_starts_back_by_the_overlap() -> None:
    window = RevisionWindow(start=100, overlap_s=2.0)
    assert window.low(0.0) == 100
    window.saw(0.0, 110)
    window.saw(1.0, 120)
    window.saw(1.5, 115)  # lower than seen: a late commit, no new mark
    assert window.low(1.9) == 100  # nothing is 2 s old yet: rescan from the start
    assert window.low(2.0) == 110
    assert window.low(3.5) == 120
    assert window.high == 120 and not window.marks


def test_zero_overlap_follows_the_highest_revision() -> None:
    window = RevisionWindow(start=0, overlap_s=0.0)
    window.saw(5.0, 42)
    assert window.low(5.0) == 42


def test_seen_dedupes_by_key_and_revision() -> None:
    seen, scan = Seen(), {}
    assert seen.fresh("bus-1", 10, scan)
    assert not seen.fresh("bus-1", 10, scan) and not seen.fresh("bus-1", 9, scan)
    assert seen.fresh("bus-1", 11, scan) and seen.fresh("bus-2", 3, scan)
    assert seen.revisions == {}  # only what the scan found, until it is kept
    seen.keep(scan)
    assert not seen.fresh("bus-1", 11, {}) and seen.fresh("bus-1", 12, {})
    seen.forget_below(5)
    assert seen.revisions == {"bus-1": 11}


def scans_per_tick(clients: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Queries one poller tick makes, with `clients` WebSocket clients each watching a stop."""
    queries: list[str] = []

    async def fetch(_pool: object, query: object, params: object = None) -> list[dict]:
        queries.append(str(query))
        return [{"revision": 0}] if "greatest" in str(query) else []

    monkeypatch.setattr(poller, "fetch", fetch)
    hub = Hub(capacity=4)
    for i in range(clients):
        hub.join(Filter.of(routes=[f"r{i % 7}"], stops=[f"s{i % 13}"]))
    settings = load_settings()
    tick = poller.Poller(None, hub, settings, None)  # type: ignore[arg-type]
    asyncio.run(tick.tick())  # the first tick also reads where to start
    queries.clear()
    asyncio.run(tick.tick())
    return len(queries)


def test_one_tick_makes_the_same_queries_for_one_client_or_a_hundred(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert scans_per_tick(1, monkeypatch) == scans_per_tick(100, monkeypatch) <= 4


def test_a_scan_that_fails_halfway_is_reported_by_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The failed scan read the change but published nothing: the next one must not take it
    for already seen, and must tell the cache."""
    answers: dict[str, list[dict[str, Any]]] = {"greatest": [{"revision": 0}]}

    async def fetch(_pool: object, query: object, params: object = None) -> list[dict[str, Any]]:
        return next((rows for word, rows in answers.items() if word in str(query)), [])

    failures = [RuntimeError("connection lost")]

    async def boards(_pool: object, _s: object, _r: object, stops: list[str], _now: object) -> Any:
        if failures and stops:
            raise failures.pop()
        return {s: [{"vehicle_id": "bus-1"}] for s in stops}

    monkeypatch.setattr(poller, "fetch", fetch)
    monkeypatch.setattr(poller, "boards", boards)
    monkeypatch.setattr(poller, "_vehicle_json", lambda row, *_: {"vehicle_id": row["vehicle_id"]})
    cache = ReadCache(100)
    cache.set_listening(True)
    hub = Hub(capacity=4)
    client = hub.join(Filter.of(stops=["s1"]))
    tick = poller.Poller(None, hub, load_settings(), None, cache)  # type: ignore[arg-type]
    asyncio.run(tick.tick())  # the start
    cache.put(("eta", "s1", None), "board", [stop_tag("s1")], cache.begin())
    answers["FROM vehicle_state"] = [{"vehicle_id": "bus-1", "revision": 5}]
    answers["stop_eta_removed"] = [{"stop_id": "s1", "revision": 5, "n": 1, "total": 5}]
    with pytest.raises(RuntimeError):
        asyncio.run(tick.tick())
    assert not tick.vehicles.revisions and not tick.stops.versions and tick.window.high == 0
    cache.scan_failed()  # as the loop does
    changes = asyncio.run(tick.tick())
    assert changes.etas == {"s1": [{"vehicle_id": "bus-1"}]} and "bus-1" in changes.vehicles
    assert cache.changed_at[stop_tag("s1")] == cache.generation
    assert cache.changed_at[vehicle_tag("bus-1")] == cache.generation
    assert ("eta", "s1", None) not in cache.entries
    assert client.outbox.deltas[-1].etas == changes.etas  # published


def test_a_failed_listen_stops_trusting_the_cache_before_it_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not after the pause: commits during it would go unnoticed while the cache answers."""
    cache = ReadCache(100)
    cache.set_listening(True)
    seen: dict[str, Any] = {}

    async def connect(conninfo: str, **kwargs: Any) -> Any:
        seen["conninfo"] = conninfo
        raise OSError("connection refused")

    async def sleep(_s: float) -> None:
        seen["listening_while_waiting"] = cache.listening
        raise asyncio.CancelledError

    monkeypatch.setattr(poller.psycopg.AsyncConnection, "connect", connect)
    monkeypatch.setattr(poller.asyncio, "sleep", sleep)
    tick = poller.Poller(None, Hub(4), load_settings(), None, cache)  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(tick.listen(asyncio.Event()))
    assert seen["listening_while_waiting"] is False
    assert "keepalives=1" in seen["conninfo"] and "keepalives_idle=" in seen["conninfo"]
