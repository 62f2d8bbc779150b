"""The API's response bodies: every field described, so the OpenAPI page is the reference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable: not_found, invalid_request, unavailable, ...")
    message: str = Field(description="what went wrong and what to do about it")
    details: list[dict[str, Any]] | None = Field(None, description="per-field problems (422)")


class ErrorBody(BaseModel):
    """The one error shape of every 4xx/5xx answer."""

    error: ErrorDetail


class Arrival(BaseModel):
    vehicle_id: str
    trip_id: str
    route_id: str
    route_name: str = Field(description="the name riders know (GTFS short name)")
    headsign: str | None = Field(None, description="where the trip goes (GTFS trip_headsign)")
    stop_id: str
    stop_sequence: int = Field(description="which visit of the stop (loops visit twice)")
    predicted_time: datetime = Field(description="predicted arrival (UTC)")
    seconds_away: int = Field(description="predicted_time - now; slightly negative: arriving")
    scheduled_time: datetime | None = Field(None, description="timetable arrival, if known")
    delay_s: int | None = Field(None, description="predicted - scheduled; positive is late")
    prediction_time: datetime = Field(description="event time of the fix it was made from")
    prediction_age_s: float = Field(description="now - prediction_time: how fresh it is")
    horizon_s: int = Field(description="how far ahead it was made")
    model: str = Field(description="which predictor made it")


class StopRef(BaseModel):
    stop_id: str
    name: str
    lat: float
    lon: float
    code: str | None = None


class EtaResponse(BaseModel):
    stop: StopRef
    generated_at: datetime = Field(description="server time the answer was computed")
    arrivals: list[Arrival] = Field(description="soonest first; empty if nothing is coming")


class Anomaly(BaseModel):
    anomaly_id: str
    kind: str = Field(description="off_route, stalled, jump, late, early, bunching")
    state: str = Field(description="open, closed or instant")
    severity: str
    vehicle_id: str
    trip_id: str | None = None
    route_id: str | None = None
    opened_at: datetime
    closed_at: datetime | None = None
    event_time: datetime
    lat: float | None = None
    lon: float | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


class Vehicle(BaseModel):
    vehicle_id: str
    route_id: str | None = None
    route_name: str | None = None
    trip_id: str | None = None
    headsign: str | None = None
    lat: float
    lon: float
    bearing: float | None = Field(None, description="compass degrees")
    speed: float | None = Field(None, description="m/s")
    delay_s: int | None = Field(None, description="schedule deviation; positive is late")
    next_stop_id: str | None = None
    next_stop_name: str | None = None
    next_stop_sequence: int | None = None
    last_seen: datetime = Field(description="event time of the latest fix")
    age_s: float = Field(description="now - last_seen")
    stale: bool = Field(description="flagged stale, or silent longer than the stale threshold")
    revision: int = Field(description="read-model revision of this state (grows on every write)")


class VehicleDetail(Vehicle):
    open_anomalies: list[Anomaly] = Field(default_factory=list)


class VehiclePage(BaseModel):
    vehicles: list[Vehicle]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page")


class StopOut(StopRef):
    routes: list[str] = Field(default_factory=list, description="route_ids that serve it")


class RouteOut(BaseModel):
    route_id: str
    name: str
    long_name: str
    route_type: int
    color: str = Field(description="#rrggbb, a default when the feed has none")
    text_color: str
    timezone: str = Field(
        description="the agency's timezone (agency.txt): clocks on a board are shown in it, "
        "not in the rider's browser's"
    )


class RouteShape(BaseModel):
    route_id: str
    color: str
    shapes: list[list[tuple[float, float]]] = Field(
        description="simplified polylines, [lat, lon] pairs, one per distinct GTFS shape"
    )


class Health(BaseModel):
    status: str
    postgres: str
    gtfs: str
    websocket_clients: int
    checked_in_ms: float
    worker_pid: int = Field(description="the process that answered (one of `api.workers`)")
