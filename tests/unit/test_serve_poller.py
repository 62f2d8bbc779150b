"""Where the poller's next scan starts, and how it recognises rows it already pushed."""

from __future__ import annotations

import asyncio

import pytest

from transitstream.config import load_settings
from transitstream.serve import poller
from transitstream.serve.fanout import Filter, Hub
from transitstream.serve.poller import RevisionWindow, Seen


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
    seen = Seen()
    assert seen.fresh("bus-1", 10)
    assert not seen.fresh("bus-1", 10) and not seen.fresh("bus-1", 9)
    assert seen.fresh("bus-1", 11) and seen.fresh("bus-2", 3)
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
