"""The read cache's freshness rule, its invalidation by the poller, and the fast path's keys."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from transitstream.config import load_settings
from transitstream.serve import cache as cache_module
from transitstream.serve import poller
from transitstream.serve.cache import ReadCache, stop_tag, vehicle_tag
from transitstream.serve.fanout import Hub
from transitstream.serve.fastpath import CachedAnswers, cache_key
from transitstream.serve.window import SeenSets

KEY = ("eta", "s1", None)


def live_cache(entries: int = 100) -> ReadCache:
    cache = ReadCache(entries)
    cache.set_listening(True)
    cache.scan_done(cache.scan_started(), [])
    return cache


def test_nothing_is_served_or_stored_until_the_poller_is_live() -> None:
    cache = ReadCache(100)
    assert cache.begin() is None and not cache.put(KEY, "board", [stop_tag("s1")], 0)
    cache.scan_done(cache.scan_started(), [])  # scans work, but LISTEN is not up
    assert cache.begin() is None and cache.get(KEY) is None
    cache.set_listening(True)  # up now, but NOTIFYs sent before may be lost: one more scan
    assert cache.get(KEY) is None
    cache.scan_done(cache.scan_started(), [])
    started = cache.begin()
    assert cache.put(KEY, "board", [stop_tag("s1")], started) and cache.get(KEY) == "board"


def test_a_reported_change_drops_the_entry_and_only_its_own() -> None:
    cache = live_cache()
    other = ("eta", "s2", None)
    cache.put(KEY, "b1", [stop_tag("s1"), vehicle_tag("bus-1")], cache.begin())
    cache.put(other, "b2", [stop_tag("s2")], cache.begin())
    cache.scan_done(cache.scan_started(), [vehicle_tag("bus-1")])  # a bus on board s1 moved
    assert cache.get(KEY) is None and cache.get(other) == "b2"
    assert not cache.by_tag.get(stop_tag("s1"))  # no index left behind


def test_a_fill_that_a_later_scan_overtook_is_not_stored() -> None:
    """The read began before the scan that reported its key finished: it may predate the change."""
    cache = live_cache()
    started = cache.begin()
    cache.scan_done(cache.scan_started(), [stop_tag("s1")])
    assert not cache.put(KEY, "old board", [stop_tag("s1")], started)
    assert cache.put(("eta", "s2", None), "b", [stop_tag("s2")], started)  # not reported
    assert cache.put(KEY, "new board", [stop_tag("s1")], cache.begin())


def test_a_pending_notify_bypasses_the_cache_until_a_later_scan_covers_it() -> None:
    cache = live_cache()
    cache.put(KEY, "board", [stop_tag("s1")], cache.begin())
    running = cache.scan_started()  # a scan already under way does not cover the commit
    cache.notify()
    assert cache.get(KEY) is None
    cache.scan_done(running, [])
    assert cache.get(KEY) is None
    cache.scan_done(cache.scan_started(), [])  # started after the NOTIFY
    assert cache.get(KEY) == "board"


def test_a_failed_scan_or_a_lost_listener_bypasses_and_recovery_empties() -> None:
    cache = live_cache()
    cache.put(KEY, "board", [stop_tag("s1")], cache.begin())
    cache.scan_failed()
    assert cache.get(KEY) is None and cache.begin() is None
    cache.scan_done(cache.scan_started(), [])
    assert cache.get(KEY) is None  # changes during the outage could be missed: emptied
    cache.put(KEY, "board", [stop_tag("s1")], cache.begin())
    cache.set_listening(False)
    assert cache.get(KEY) is None


def test_a_read_begun_before_an_outage_is_not_stored_after_recovery() -> None:
    """A scan that failed told the cache nothing: a read that began before it may predate a
    change no scan will ever report, so only reads begun after the recovery are stored."""
    cache = live_cache()
    started = cache.begin()
    cache.scan_failed()
    cache.scan_done(cache.scan_started(), [])  # recovered; it reports nothing about s1
    assert not cache.put(KEY, "old board", [stop_tag("s1")], started)
    assert cache.put(KEY, "new board", [stop_tag("s1")], cache.begin())


def test_least_recently_used_entries_go_first() -> None:
    cache = live_cache(entries=2)
    for k in ("a", "b"):
        cache.put(k, k, [stop_tag(k)], cache.begin())
    cache.get("a")
    cache.put("c", "c", [stop_tag("c")], cache.begin())
    assert cache.get("b") is None and cache.get("a") == "a" and cache.get("c") == "c"
    assert stop_tag("b") not in cache.by_tag


def test_no_entry_outlives_its_time_to_live(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounds what no scan can see (rows deleted without a trace, a rebuild's swap)."""
    clock = [100.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: clock[0])
    cache = ReadCache(10, ttl_s=30.0)
    cache.set_listening(True)
    cache.scan_done(cache.scan_started(), [])
    cache.put(KEY, "board", [stop_tag("s1")], cache.begin())
    clock[0] = 130.0
    assert cache.get(KEY) == "board"
    clock[0] = 130.001
    assert cache.get(KEY) is None and KEY not in cache.entries


def test_seen_sets_catch_a_late_commit_below_the_highest_revision() -> None:
    seen, scan = SeenSets(), {}
    assert seen.fresh("s1", count=1, total=100, high=100, scan=scan)
    seen.keep(scan)
    assert not seen.fresh("s1", count=1, total=100, high=100, scan={})
    assert seen.fresh("s1", count=2, total=195, high=100, scan={})  # revision 95 committed late


def test_a_poller_tick_reports_what_changed_to_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: dict[str, list[dict[str, Any]]] = {"greatest": [{"revision": 0}]}

    async def fetch(_pool: object, query: object, params: object = None) -> list[dict[str, Any]]:
        return next((rows for word, rows in answers.items() if word in str(query)), [])

    monkeypatch.setattr(poller, "fetch", fetch)
    monkeypatch.setattr(poller, "_vehicle_json", lambda row, *_: {"vehicle_id": row["vehicle_id"]})
    monkeypatch.setattr(poller, "_anomaly_json", lambda row: dict(row))
    cache = live_cache()
    cache.put(KEY, "board", [stop_tag("s1")], cache.begin())
    cache.put(("vehicle", "bus-2"), "bus", [vehicle_tag("bus-2")], cache.begin())
    tick = poller.Poller(None, Hub(4), load_settings(), None, cache)  # type: ignore[arg-type]
    asyncio.run(tick.tick())
    assert cache.get(KEY) == "board"
    answers["stop_eta_removed"] = [{"stop_id": "s1", "revision": 5, "n": 1, "total": 5}]
    answers["FROM vehicle_anomaly"] = [
        {"anomaly_id": "a", "vehicle_id": "bus-2", "revision": 6, "route_id": None}
    ]
    asyncio.run(tick.tick())
    assert KEY not in cache.entries and ("vehicle", "bus-2") not in cache.entries
    assert cache.live  # dropped, not merely bypassed


def scope(path: str, query: str = "", method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query.encode()}


def test_fast_path_keys_are_the_routes_keys_for_plain_requests_only() -> None:
    assert cache_key(scope("/eta", "stop_id=s1"), 10, 100) == (KEY, 10)
    assert cache_key(scope("/eta", "stop_id=s%201&route_id=4&limit=5"), 10, 100) == (
        ("eta", "s 1", "4"), 5
    )  # fmt: skip
    for odd in ("stop_id=s1&stop_id=s2", "stop_id=s1&x=1", "stop_id=s1&limit=010",
                "stop_id=s1&limit=-1", "stop_id=", "limit=5",
                "stop_id=s1&limit=101"):  # fmt: skip
        assert cache_key(scope("/eta", odd), 10, 100) is None, odd
    assert cache_key(scope("/vehicles/bus-1"), 10, 100) == (("vehicle", "bus-1"), None)
    assert cache_key(scope("/vehicles/a/b"), 10, 100) is None
    assert cache_key(scope("/vehicles/bus-1", method="HEAD"), 10, 100) is None
    assert cache_key(scope("/vehicles"), 10, 100) is None


PLAIN = (b"stop_id=s%201", b"stop_id=a+b&route_id=r%2B1", b"stop_id=%E2%82%AC&limit=7")


@pytest.mark.parametrize(
    "query",
    [*PLAIN, b"stop_id=%FF%FE", b"stop_id=\xe9t\xe9", b"stop_id=s1&route_id=",
     b"stop_id=s1&route_id", b"stop_id=%00", b"stop_id=s%3Bx;y", b"stop_id=s1&limit=5&"],
)  # fmt: skip
def test_fast_path_reads_the_query_as_starlette_does(query: bytes) -> None:
    """The route sees `Request(scope).query_params`: the fast path's key must name the same
    values (percent-encoding, `+`, blanks, bytes that are not UTF-8)."""
    from starlette.requests import Request

    sc = {"type": "http", "method": "GET", "path": "/eta", "query_string": query, "headers": []}
    params = Request(sc).query_params
    found = cache_key(sc, 10, 100)
    if found is None:  # left to the route: fine whatever it decides, but not plain queries
        assert query not in PLAIN, "a plain query must be answerable from the cache"
        return
    (_, stop_id, route_id), limit = found  # type: ignore[misc]
    assert (stop_id, route_id) == (params.get("stop_id"), params.get("route_id"))
    assert limit == int(params.get("limit") or 10)


def test_fast_path_answers_hits_and_passes_the_rest_on() -> None:
    cache = live_cache()
    board = SimpleNamespace(render=lambda now, limit: b'{"cached": true}')
    cache.put(KEY, board, [stop_tag("s1")], cache.begin())
    api = SimpleNamespace(eta_limit=10, eta_limit_max=100)
    state = SimpleNamespace(serving=SimpleNamespace(cache=cache, settings=SimpleNamespace(api=api)))
    passed: list[str] = []

    async def inner(sc: Any, receive: Any, send: Any) -> None:
        passed.append(sc["path"])

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    layer = CachedAnswers(inner, state)
    asyncio.run(layer(scope("/eta", "stop_id=s1"), None, send))  # type: ignore[arg-type]
    assert passed == [] and sent[1]["body"] == b'{"cached": true}'
    assert (b"content-length", b"16") in sent[0]["headers"]
    asyncio.run(layer(scope("/eta", "stop_id=s2"), None, send))  # type: ignore[arg-type]
    cache.notify()  # a commit not scanned yet: the route (and Postgres) answers
    asyncio.run(layer(scope("/eta", "stop_id=s1"), None, send))  # type: ignore[arg-type]
    assert passed == ["/eta", "/eta"] and len(sent) == 2
