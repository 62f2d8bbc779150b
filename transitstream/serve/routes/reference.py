"""`GET /stops`, `GET /routes`, `GET /shapes`: the GTFS reference, cacheable (ETag, 304)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from transitstream.serve.deps import ReferenceDep
from transitstream.serve.models import RouteOut, RouteShape, StopOut
from transitstream.serve.reference import Document

router = APIRouter(tags=["reference"])

CACHE_CONTROL = "public, max-age=3600"


def cached(request: Request, doc: Document) -> Response:
    """304 when the client's copy is current; the feed changes only when the server restarts."""
    headers = {"ETag": doc.etag, "Cache-Control": CACHE_CONTROL}
    match = request.headers.get("if-none-match", "")
    if doc.etag in {tag.strip() for tag in match.split(",")} or match.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(doc.body, media_type="application/json", headers=headers)


@router.get("/stops", response_model=list[StopOut], summary="Every stop of the GTFS feed")
async def stops(request: Request, ref: ReferenceDep) -> Response:
    """Sorted by name; each with the routes that serve it."""
    return cached(request, ref.stops)


@router.get("/routes", response_model=list[RouteOut], summary="Every route of the GTFS feed")
async def routes(request: Request, ref: ReferenceDep) -> Response:
    return cached(request, ref.routes)


@router.get("/shapes", response_model=list[RouteShape], summary="Route shapes for a map")
async def shapes(request: Request, ref: ReferenceDep) -> Response:
    """Each route's GTFS shapes, simplified (Settings.api.shape_tolerance_m) to draw a map."""
    return cached(request, ref.shapes)
