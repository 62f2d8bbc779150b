"""`/ws/live` with real clients against the API as a real server process and real Postgres:
filters, snapshot then deltas, subscribe messages, heartbeats, and a client that stops reading.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from transitstream.config import Settings
from transitstream.db.migrate import connect
from transitstream.serve.client import Live, live_url, running_api
from transitstream.serve.sample import delete_vehicles, write_rows

pytestmark = pytest.mark.integration

PREFIX = "t-serve-ws-"
# A stop of the route-1 trip 1025020 (its 25th) that no other test writes ETAs for, emptied when
# the module starts: a board shows the next `eta_limit` arrivals, and other tests' arrivals kept
# for `eta_max_age_s` must not push this module's buses off it.
STOP, STOP_SEQUENCE = "1947", 25


@pytest.fixture(scope="module")
def api(stack: Settings) -> Iterator[Settings]:
    """The API with a short heartbeat, a small outbox and a quick send timeout, so the slow-client
    behaviour shows in seconds."""
    fast = stack.api.model_copy(
        update={"ws_heartbeat_s": 1.0, "ws_queue": 4, "ws_send_timeout_s": 2.0,
                "push_interval_s": 0.2,
                "push_overlap_s": 10.0}  # a commit slowed by a busy machine is still scanned
    )  # fmt: skip
    settings = stack.model_copy(update={"api": fast})
    delete_vehicles(stack, PREFIX)
    with connect(stack) as conn:
        conn.execute("DELETE FROM stop_eta WHERE stop_id = %s", [STOP])
    with running_api(settings):
        yield settings
    delete_vehicles(stack, PREFIX)


def unique_route() -> str:
    return f"{PREFIX}r{uuid.uuid4().hex[:6]}"


def fix(vehicle_id: str, route_id: str, lat: float = 35.03, **extra: Any) -> dict[str, Any]:
    return {"vehicle_id": vehicle_id, "route_id": route_id, "lat": lat, "lon": -85.3,
            "event_time": datetime.now(UTC), **extra}  # fmt: skip


def first_stop_eta(bus: str, now: datetime, in_s: float) -> dict[str, Any]:
    """An ETA of `bus` at STOP, a stop of a route-1 trip, `in_s` seconds from `now`."""
    return {"vehicle_id": bus, "trip_id": "1025020", "stop_sequence": STOP_SEQUENCE,
            "stop_id": STOP, "route_id": "1", "predicted_time": now + timedelta(seconds=in_s),
            "prediction_time": now}  # fmt: skip


def next_delta_with(
    live: Live, predicate: Any, timeout: float = 10.0, api: Settings | None = None
) -> dict[str, Any]:
    """The first delta `predicate` accepts; on a timeout, the failure says what the API's
    poller reported meanwhile (its failed scans), and the deltas that did not match."""
    deadline, others = time.monotonic() + timeout, []
    errors_before = metric(api, "serve_poll_errors_total") if api else None
    while True:
        try:
            message = live.receive(max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            errors = (metric(api, "serve_poll_errors_total") - errors_before) if api else "?"
            pytest.fail(
                f"no matching delta in {timeout} s; failed polls meanwhile: {errors}; "
                f"other deltas: {others[-5:]}"
            )
        if message["type"] == "delta":
            if predicate(message):
                return message
            others.append(message)
        if time.monotonic() > deadline:
            pytest.fail(f"no matching delta in {timeout} s; other deltas: {others[-5:]}")


def metric(settings: Settings, name: str) -> float:
    text = httpx.get(f"{settings.api.url}/metrics", timeout=10).text
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_route_filter_snapshot_then_deltas(api: Settings) -> None:
    route, other = unique_route(), unique_route()
    mine, theirs = f"{route}-v1", f"{other}-v1"
    write_rows(api, vehicles=[fix(mine, route), fix(theirs, other)])
    with Live(live_url(api, route_id=[route])) as live:
        snapshot = live.until("snapshot")
        assert [v["vehicle_id"] for v in snapshot["vehicles"]] == [mine]
        assert snapshot["filter"]["routes"] == [route]
        write_rows(api, vehicles=[fix(theirs, other, lat=35.1), fix(mine, route, lat=35.2)])
        delta = next_delta_with(live, lambda m: m["vehicles"])
        assert [(v["vehicle_id"], v["lat"]) for v in delta["vehicles"]] == [(mine, 35.2)]
        assert delta["vehicles"][0]["revision"] > snapshot["vehicles"][0]["revision"]


def test_stop_board_updates_when_an_eta_lands(api: Settings) -> None:
    route = unique_route()
    vehicle = f"{route}-bus"
    now = datetime.now(UTC)
    with Live(live_url(api, stop_id=[STOP], vehicle_id=["nobody"])) as live:
        snapshot = live.until("snapshot")
        assert STOP in snapshot["etas"] and snapshot["vehicles"] == []
        write_rows(api, etas=[first_stop_eta(vehicle, now, 20)])
        delta = next_delta_with(
            live,
            lambda m: any(a["vehicle_id"] == vehicle for a in m["etas"].get(STOP, [])),
            api=api,
        )
        arrival = next(a for a in delta["etas"][STOP] if a["vehicle_id"] == vehicle)
        assert arrival["headsign"] == "ALTON PARK" and arrival["seconds_away"] <= 20


def test_subscribe_message_replaces_the_filter(api: Settings) -> None:
    first, second = unique_route(), unique_route()
    write_rows(api, vehicles=[fix(f"{first}-a", first), fix(f"{second}-b", second)])
    with Live(live_url(api, route_id=[first])) as live:
        assert [v["vehicle_id"] for v in live.until("snapshot")["vehicles"]] == [f"{first}-a"]
        live.ws.send('{"type": "dance"}')
        error = live.until("error")
        assert (
            error["error"]["code"] == "invalid_message" and "subscribe" in error["error"]["message"]
        )
        live.subscribe(route_id=[second], stop_id=["no-such-stop"])
        assert "no-such-stop" in live.until("error")["error"]["message"]
        snapshot = live.until("snapshot")
        assert snapshot["etas"] == {"no-such-stop": []}
        assert [v["vehicle_id"] for v in snapshot["vehicles"]] == [f"{second}-b"]
        write_rows(api, vehicles=[fix(f"{first}-a", first, lat=35.5)])
        write_rows(api, vehicles=[fix(f"{second}-b", second, lat=35.6)])
        delta = next_delta_with(live, lambda m: m["vehicles"])
        assert [v["vehicle_id"] for v in delta["vehicles"]] == [f"{second}-b"]


def test_heartbeat_when_nothing_changes(api: Settings) -> None:
    with Live(live_url(api, route_id=[unique_route()])) as live:
        live.until("snapshot")
        start = time.monotonic()
        beat = live.until("heartbeat", timeout=api.api.ws_heartbeat_s * 3)
        assert time.monotonic() - start < api.api.ws_heartbeat_s * 3
        assert datetime.fromisoformat(beat["time"]).tzinfo is not None


def test_heartbeat_keeps_its_schedule_while_busy(api: Settings) -> None:
    route = unique_route()
    with Live(live_url(api, route_id=[route])) as live:
        live.until("snapshot")
        kinds: list[str] = []
        start = time.monotonic()
        while time.monotonic() - start < api.api.ws_heartbeat_s * 3.5:
            write_rows(api, vehicles=[fix(f"{route}-v", route, lat=35 + time.monotonic() % 1)])
            try:
                while True:
                    kinds.append(live.receive(0.3)["type"])
            except TimeoutError:
                pass
        assert kinds.count("delta") >= 3 and kinds.count("heartbeat") >= 2, kinds


def test_many_clients_one_poll(api: Settings) -> None:
    route = unique_route()
    write_rows(api, vehicles=[fix(f"{route}-v", route)])
    clients = [Live(live_url(api, route_id=[route])) for _ in range(10)]
    try:
        for c in clients:
            c.until("snapshot")
        write_rows(api, vehicles=[fix(f"{route}-v", route, lat=36.0)])
        for c in clients:
            assert next_delta_with(c, lambda m: m["vehicles"])["vehicles"][0]["lat"] == 36.0
        # one poll per tick for everyone (counted per tick in tests/unit/test_serve_poller.py)
        assert metric(api, "serve_websocket_clients") >= 10
    finally:
        for c in clients:
            c.close()


def _stalled_client(settings: Settings, route: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (tiny buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((settings.api.host, settings.api.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws/live?route_id={route} HTTP/1.1\r\nHost: {settings.api.host}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_slow_client_is_skipped_then_dropped_and_never_slows_others(api: Settings) -> None:
    route = unique_route()
    fleet = [f"{route}-{i:03d}" for i in range(400)]
    watched = fleet[0]
    write_rows(api, vehicles=[fix(v, route) for v in fleet])
    skipped_before = metric(api, "serve_websocket_skipped_total")
    dropped_before = metric(api, 'serve_websocket_dropped_total{reason="too_slow"}')
    stalled = _stalled_client(api, route)
    fast = Live(live_url(api, vehicle_id=[watched]))
    fast.until("snapshot")
    lags: list[float] = []
    stop = threading.Event()
    sent: dict[float, float] = {}

    def read_fast() -> None:
        while not stop.is_set():
            try:
                m = fast.receive(0.5)
            except TimeoutError:
                continue
            for v in m.get("vehicles", ()):
                if v["lat"] in sent:
                    lags.append(time.monotonic() - sent[v["lat"]])

    reader = threading.Thread(target=read_fast, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        dropped = dropped_before
        tick = 0
        while dropped == dropped_before and time.monotonic() < deadline:
            tick += 1
            lat = round(35.0 + tick * 1e-4, 6)
            sent[lat] = time.monotonic()
            write_rows(api, vehicles=[fix(v, route, lat=lat) for v in fleet])
            time.sleep(0.25)
            dropped = metric(api, 'serve_websocket_dropped_total{reason="too_slow"}')
        time.sleep(1.0)
    finally:
        stop.set()
        reader.join(5)
        fast.close()
        stalled.close()
    assert dropped == dropped_before + 1, "the stalled client was never dropped"
    assert metric(api, "serve_websocket_skipped_total") > skipped_before
    # the fast client kept getting its vehicle every tick, promptly, while the other stalled
    assert len(lags) >= tick * 0.8, (len(lags), tick)
    assert sorted(lags)[int(len(lags) * 0.95) - 1] < 2.0, sorted(lags)[-5:]


def test_board_drops_a_bus_that_moved_on(api: Settings) -> None:
    """The projector deletes the ETA of a stop a bus has passed (no revision for a deletion);
    the bus's own update must still refresh the boards it was on."""
    bus = f"{unique_route()}-bus"
    now = datetime.now(UTC)
    with Live(live_url(api, stop_id=[STOP], vehicle_id=["nobody"])) as live:
        live.until("snapshot")
        row = first_stop_eta(bus, now, 40)
        write_rows(api, vehicles=[fix(bus, "1", next_stop_sequence=1)], etas=[row])
        next_delta_with(
            live, lambda m: any(a["vehicle_id"] == bus for a in m["etas"].get(STOP, [])), api=api
        )
        with connect(api) as conn:
            conn.execute("DELETE FROM stop_eta WHERE vehicle_id = %s", [bus])
        write_rows(api, vehicles=[fix(bus, "1", next_stop_sequence=2)])
        delta = next_delta_with(live, lambda m: STOP in m["etas"], api=api)
        assert all(a["vehicle_id"] != bus for a in delta["etas"][STOP])


def test_board_drops_an_eta_the_projector_swept_away(api: Settings) -> None:
    """An ETA whose time has passed is deleted by the projector's sweep, with no update of its
    bus: the removal is logged with a revision, so the board is redone all the same."""
    from transitstream.project.stale import sweep

    bus = f"{unique_route()}-bus"
    now = datetime.now(UTC)
    with Live(live_url(api, stop_id=[STOP], vehicle_id=["nobody"])) as live:
        live.until("snapshot")
        write_rows(api, etas=[first_stop_eta(bus, now, 5)])
        next_delta_with(
            live, lambda m: any(a["vehicle_id"] == bus for a in m["etas"].get(STOP, [])), api=api
        )
        with connect(api) as conn:  # as the projector's sweep would, once the grace is over
            deleted, _ = sweep(conn, api, now + timedelta(seconds=api.project.eta_grace_s + 10))
        assert deleted >= 1
        delta = next_delta_with(live, lambda m: STOP in m["etas"], api=api)
        assert all(a["vehicle_id"] != bus for a in delta["etas"][STOP])
