"""Small clients of the read API for notebooks, tests and the benchmark.

`running_api` starts the API as a background process of the stack (as the demo does) and
stops it after; `get` calls an endpoint, `all_vehicles` pages through `/vehicles`; `Live` is a
blocking WebSocket client of `/ws/live` that works in a notebook (no event loop of its own to
fight Jupyter's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.sync.client import ClientConnection, connect

from transitstream.config import Settings

Json = dict[str, Any]


@contextmanager
def running_api(settings: Settings, keep: bool = False) -> Iterator[str]:
    """The API on Settings.api's address for the block; yields its URL. `keep` leaves it up."""
    from transitstream.infra import stack
    from transitstream.infra.process import stop
    from transitstream.serve.process import COMPONENT

    stack.start(COMPONENT, settings)
    try:
        yield settings.api.url
    finally:
        if not keep:
            stop(COMPONENT.managed(settings))


def get(settings: Settings, path: str, **params: Any) -> Json | list[Any]:
    """GET an endpoint as JSON; an error answer raises with its `{"error": ...}` body."""
    response = httpx.get(
        settings.api.url + path,
        params={k: v for k, v in params.items() if v is not None},
        timeout=10,
    )
    if response.status_code >= 400:
        raise httpx.HTTPStatusError(
            f"{response.status_code} from {path}: {response.text}",
            request=response.request,
            response=response,
        )
    data: Json | list[Any] = response.json()
    return data


def all_vehicles(settings: Settings, page_size: int = 500, **filters: Any) -> Iterator[Json]:
    """Every vehicle `GET /vehicles` lists (with its `route_id`/`stale` filters), page after
    page: a fleet bigger than one page is still found whole."""
    cursor = None
    while True:
        page = get(settings, "/vehicles", limit=page_size, cursor=cursor, **filters)
        assert isinstance(page, dict)
        yield from page["vehicles"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def live_url(
    settings: Settings,
    route_id: Iterable[str] = (),
    vehicle_id: Iterable[str] = (),
    stop_id: Iterable[str] = (),
) -> str:
    query = urlencode(
        [("route_id", r) for r in route_id]
        + [("vehicle_id", v) for v in vehicle_id]
        + [("stop_id", s) for s in stop_id]
    )
    base = settings.api.url.replace("http://", "ws://", 1)
    return f"{base}/ws/live" + (f"?{query}" if query else "")


class Live:
    """`/ws/live` as a blocking iterator of decoded messages (snapshot first, then deltas)."""

    def __init__(self, url: str, open_timeout: float = 10.0) -> None:
        self.url = url
        # entered as a context manager at once (websockets >= 17.1 warns otherwise); `close`
        # (or leaving a `with Live(...)` block) closes it
        self.ws: ClientConnection = connect(url, open_timeout=open_timeout, max_size=2**24)
        self.ws.__enter__()

    def receive(self, timeout: float = 10.0) -> Json:
        """The next message; TimeoutError if none comes in `timeout` seconds."""
        message: Json = json.loads(self.ws.recv(timeout=timeout))
        return message

    def until(self, kind: str, timeout: float = 10.0) -> Json:
        """Skip messages until one of `kind` (snapshot, delta, heartbeat, error) arrives."""
        while True:
            message = self.receive(timeout)
            if message["type"] == kind:
                return message

    def subscribe(
        self,
        route_id: Iterable[str] = (),
        vehicle_id: Iterable[str] = (),
        stop_id: Iterable[str] = (),
    ) -> None:
        """Replace the filter; the server answers with a fresh snapshot."""
        body = {
            "type": "subscribe",
            "route_id": list(route_id),
            "vehicle_id": list(vehicle_id),
            "stop_id": list(stop_id),
        }
        self.ws.send(json.dumps(body))

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> Live:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
