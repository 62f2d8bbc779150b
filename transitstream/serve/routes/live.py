"""`WS /ws/live`: a snapshot on connect, then deltas as they land in the read models.

Filters come as query parameters (`route_id`, `vehicle_id`, `stop_id`; repeat or comma-separate)
or later as a message `{"type": "subscribe", "route_id": [...], "vehicle_id": [...],
"stop_id": [...]}`, which replaces the filter and brings a fresh snapshot. Messages out:
`snapshot`, `delta`, `heartbeat` (every ws_heartbeat_s) and `error`.

After a `subscribe`, deltas still queued for the client are dropped, but one already being sent
may still follow the old filter: a client applies deltas by the filter of the last snapshot it
received, and the new snapshot (which follows) is the state under the new filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ValidationError

from transitstream.serve import metrics
from transitstream.serve.fanout import Client, Delta, Filter, Json
from transitstream.serve.poller import snapshot

router = APIRouter(tags=["live"])
log = logging.getLogger(__name__)

TOO_SLOW = 4008  # application close code: did not read for ws_send_timeout_s


class Subscribe(BaseModel):
    type: str
    route_id: list[str] = []
    vehicle_id: list[str] = []
    stop_id: list[str] = []


PUSHED = {kind: metrics.MESSAGES_PUSHED.labels(kind) for kind in ("snapshot", "delta", "heartbeat")}


async def _send(ws: WebSocket, message: Json, timeout: float) -> None:
    await _send_text(ws, json.dumps(message, separators=(",", ":")), message["type"], timeout)


async def _send_text(ws: WebSocket, text: str, kind: str, timeout: float) -> None:
    await asyncio.wait_for(ws.send_text(text), timeout)
    PUSHED[kind].inc()


async def _send_delta(ws: WebSocket, delta: Delta, timeout: float) -> None:
    """The delta's shared encoding; its vehicles' push lag (now - event time) observed."""
    await _send_text(ws, delta.text(), "delta", timeout)
    now = time.time()
    for event_time in delta.event_times():
        metrics.PUSH_LAG.observe(max(0.0, now - event_time))


async def _sender(ws: WebSocket, client: Client) -> None:
    app = ws.app
    serving = app.state.serving
    settings, pool, ref = serving.settings, serving.pool, serving.reference
    heartbeat, timeout = settings.api.ws_heartbeat_s, settings.api.ws_send_timeout_s
    outbox = client.outbox
    loop = asyncio.get_running_loop()
    next_beat = loop.time() + heartbeat
    while True:
        if loop.time() >= next_beat:  # on schedule, busy or not: clients time out on silence
            now = datetime.now(UTC)
            await _send(ws, {"type": "heartbeat", "time": now.isoformat()}, timeout)
            next_beat = loop.time() + heartbeat
            continue
        try:
            await asyncio.wait_for(outbox.ready.wait(), next_beat - loop.time())
        except TimeoutError:
            continue
        if outbox.snapshot_needed:
            outbox.snapshot_needed = False
            snap = await snapshot(pool, settings, ref, client.filter)
            client.seen = {v["vehicle_id"]: v["revision"] for v in snap["vehicles"]}
            await _send(ws, snap, timeout)
        for delta in outbox.take():
            part = client.unseen(delta)
            if part:
                await _send_delta(ws, part, timeout)


async def _receiver(ws: WebSocket, client: Client) -> None:
    while True:
        text = await ws.receive_text()
        try:
            sub = Subscribe.model_validate(json.loads(text))
            if sub.type != "subscribe":
                raise ValueError(f"unknown message type {sub.type!r}")
        except (ValueError, ValidationError) as exc:
            problem = {"code": "invalid_message", "message": f"{exc}".splitlines()[0]}
            hint = 'send {"type": "subscribe", "route_id": [...], "stop_id": [...]}'
            problem["message"] += f"; {hint}"
            await ws.send_text(json.dumps({"type": "error", "error": problem}))
            continue
        client.filter = Filter.of(sub.route_id, sub.vehicle_id, sub.stop_id)
        await _check_stops(ws, client.filter)
        client.outbox.resubscribe()


async def _check_stops(ws: WebSocket, f: Filter) -> None:
    """Say so when a stop is not in GTFS: its board would stay empty forever, silently."""
    unknown = sorted(s for s in f.stops if s not in ws.app.state.serving.reference.feed.stops)
    if unknown:
        problem = {"code": "not_found", "message": f"stop(s) {', '.join(unknown)} not in the "
                   "GTFS feed: pick stop_ids from GET /stops"}  # fmt: skip
        await ws.send_text(json.dumps({"type": "error", "error": problem}))


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code, reason), 1.0)


@router.websocket("/ws/live")
async def live(
    ws: WebSocket,
    route_id: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    vehicle_id: Annotated[list[str], Query()] = [],  # noqa: B006
    stop_id: Annotated[list[str], Query()] = [],  # noqa: B006
) -> None:
    await ws.accept()
    hub = ws.app.state.hub
    client = hub.join(Filter.of(route_id, vehicle_id, stop_id))
    await _check_stops(ws, client.filter)
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(_sender(ws, client)),
        asyncio.create_task(_receiver(ws, client)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if isinstance(exc, TimeoutError):
                metrics.DROPPED.labels("too_slow").inc()
                await _close(ws, TOO_SLOW, "too slow: read your messages")
            elif exc is not None and not isinstance(exc, WebSocketDisconnect):
                # the client went away mid-send, or Postgres failed a snapshot: either way,
                # this connection is over; the others are not affected
                log.info("websocket closed: %r", exc)
                metrics.DROPPED.labels("error").inc()
                await _close(ws, 1011, "server error: reconnect")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        hub.leave(client)
