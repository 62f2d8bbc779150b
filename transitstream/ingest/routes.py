"""`POST /v1/positions` (one fix) and `POST /v1/positions/batch` (a JSON array)."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from transitstream.ingest.auth import Device
from transitstream.ingest.producer import KafkaUnavailable
from transitstream.ingest.service import Ingestor, Outcome, Received
from transitstream.ingest.validate import Rejection

router = APIRouter(prefix="/v1/positions", tags=["positions"])

EXAMPLE = {"vehicle_id": "bus-17", "lat": 35.0456, "lon": -85.3097, "ts": "2026-11-25T14:03:05Z"}


async def read_body(request: Request) -> Received:
    """The raw body, refused with 413 past the limit before it is all read."""
    limit = request.app.state.settings.ingest.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
        chunks.append(chunk)
    return Received(b"".join(chunks), request.headers.get("content-type"), int(time.time() * 1000))


def parse(received: Received) -> tuple[Any, Rejection | None]:
    """The body as JSON, or why not. Arrays nested thousands deep exhaust Python's parser with a
    RecursionError, and an integer over 4,300 digits trips its int max-str-digits limit with a
    plain ValueError: such bodies are refused like any other non-JSON one (400, kept in the DLQ),
    not answered with a 500 that keeps nothing."""
    try:
        return json.loads(received.raw), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, Rejection("not_json", f"body is not JSON: {exc}")
    except RecursionError:
        return None, Rejection("not_json", "body is not JSON we accept: nested too deeply")
    except ValueError:
        return None, Rejection("not_json", "body is not JSON we accept: a number is too long")


async def run(request: Request, fn: Any, *args: Any) -> Outcome:
    ingestor: Ingestor = request.app.state.ingestor
    try:
        return await run_in_threadpool(getattr(ingestor, fn), *args)
    except KafkaUnavailable as exc:
        retry = str(request.app.state.settings.ingest.retry_after_s)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"not stored, retry later with the same body: {exc}",
            headers={"Retry-After": retry},
        ) from None


def respond(outcome: Outcome, ok: int) -> JSONResponse:
    return JSONResponse(outcome.body(), status_code=ok)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Post one GPS fix",
    openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE}}}},
    responses={422: {"description": "invalid fix (kept in the dead-letter topic)"}},
)
async def post_position(request: Request, _device: Device) -> JSONResponse:
    received = await read_body(request)
    item, rejection = parse(received)
    if rejection:
        return respond(await run(request, "reject_body", rejection, received), 400)
    outcome = await run(request, "ingest", [item], received, False)
    return respond(outcome, status.HTTP_202_ACCEPTED if outcome.accepted else 422)


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Post a JSON array of GPS fixes; good and bad are stored in one transaction",
    openapi_extra={"requestBody": {"content": {"application/json": {"example": [EXAMPLE]}}}},
)
async def post_batch(request: Request, _device: Device) -> JSONResponse:
    received = await read_body(request)
    items, rejection = parse(received)
    if rejection is None and not isinstance(items, list):
        rejection = Rejection("not_an_array", "a batch must be a JSON array of fixes")
    if rejection:
        return respond(await run(request, "reject_body", rejection, received), 400)
    limit = request.app.state.settings.ingest.max_batch
    if len(items) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(items)} events in one batch; the limit is {limit}: split it",
        )
    return respond(await run(request, "ingest", items, received, True), status.HTTP_202_ACCEPTED)
