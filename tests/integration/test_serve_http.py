"""The read API over real HTTP against the real read models: every endpoint, every error path.

Rows are written as a projector writes them (upserts that take the next revision), with vehicle
ids unique to this module, so the shared session stack stays usable by others.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from google.transit import gtfs_realtime_pb2 as rt

from transitstream.config import Settings
from transitstream.db.migrate import connect
from transitstream.gtfs import Feed, load_feed
from transitstream.infra.process import wait_until
from transitstream.project.stale import sweep
from transitstream.serve.client import running_api
from transitstream.serve.sample import delete_vehicles, trip_arrivals, write_rows

pytestmark = pytest.mark.integration

PREFIX = "t-serve-http-"


@pytest.fixture(scope="module")
def api(stack: Settings) -> Iterator[Settings]:
    delete_vehicles(stack, PREFIX)
    with running_api(stack):
        yield stack
    delete_vehicles(stack, PREFIX)


@pytest.fixture(scope="module")
def feed(stack: Settings) -> Feed:
    return load_feed(stack.gtfs_path)


@pytest.fixture
def http(api: Settings) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.api.url, timeout=30) as client:
        yield client


def vid(tag: str) -> str:
    return f"{PREFIX}{tag}-{uuid.uuid4().hex[:6]}"


def first_trip(feed: Feed, route_id: str) -> str:
    return sorted(t.trip_id for t in feed.trips.values() if t.route_id == route_id)[0]


def private_stop(feed: Feed, trip_id: str) -> tuple[str, int]:
    """A stop of the trip that no other route serves (so no other test writes its board)."""
    route = feed.trips[trip_id].route_id
    serves: dict[str, set[str]] = {}
    for t, sts in feed.stop_times.items():
        for st in sts:
            serves.setdefault(st.stop_id, set()).add(feed.trips[t].route_id)
    for st in feed.stop_times[trip_id]:
        if serves[st.stop_id] == {route}:
            return st.stop_id, st.stop_sequence
    raise AssertionError(f"trip {trip_id} has no stop of its own")


def vehicle(vehicle_id: str, event_time: datetime, **extra: Any) -> dict[str, Any]:
    return {"vehicle_id": vehicle_id, "route_id": "1", "lat": 35.03, "lon": -85.3,
            "event_time": event_time, **extra}  # fmt: skip


def eta_row(vehicle_id: str, trip_id: str, seq: int, stop_id: str, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"vehicle_id": vehicle_id, "trip_id": trip_id, "stop_sequence": seq,
            "stop_id": stop_id, "route_id": "1", "predicted_time": now + timedelta(minutes=5),
            "prediction_time": now - timedelta(seconds=10), "horizon_s": 300, **extra}  # fmt: skip


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


def test_health_and_metrics_by_route_template(http: httpx.Client) -> None:
    health = http.get("/healthz")
    assert health.status_code == 200 and health.json()["postgres"] == "ok"
    http.get(f"/vehicles/{vid('nobody')}")
    metrics = http.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    # a sample of this request, labelled by its route template (the raw id is nowhere)
    counted = re.search(
        r'^serve_request_seconds_count\{method="GET",route="/vehicles/\{vehicle_id\}",'
        r'status="404"\} ([0-9.e+]+)$',
        text,
        re.M,
    )
    assert counted and float(counted.group(1)) >= 1 and PREFIX not in text


def test_eta_next_arrivals_soonest_first(http: httpx.Client, api: Settings, feed: Feed) -> None:
    trip = first_trip(feed, "1")
    stop, seq = private_stop(feed, trip)
    now = datetime.now(UTC)
    a, b, gone, old = vid("a"), vid("b"), vid("gone"), vid("old")
    write_rows(
        api,
        etas=[
            eta_row(a, trip, seq, stop, predicted_time=now + timedelta(seconds=300),
                    scheduled_time=now + timedelta(seconds=240)),
            eta_row(b, trip, seq, stop, predicted_time=now + timedelta(seconds=120)),
            eta_row(gone, trip, seq, stop, predicted_time=now - timedelta(minutes=5)),
            eta_row(old, trip, seq, stop, prediction_time=now - timedelta(hours=1)),
        ],
    )  # fmt: skip
    body = http.get("/eta", params={"stop_id": stop}).json()
    assert body["stop"]["stop_id"] == stop and body["stop"]["name"] == feed.stops[stop].name
    mine = [x for x in body["arrivals"] if x["vehicle_id"].startswith(PREFIX)]
    assert [x["vehicle_id"] for x in mine] == [b, a]  # passed and abandoned ones left out
    first, second = mine
    assert 100 <= first["seconds_away"] <= 120
    assert first["route_name"] == feed.routes["1"].name
    assert first["headsign"] == feed.trips[trip].headsign
    assert first["delay_s"] is None and second["delay_s"] == 60
    assert 9 <= first["prediction_age_s"] < 60
    limited = http.get("/eta", params={"stop_id": stop, "limit": 1}).json()["arrivals"]
    assert len(limited) == 1
    other_route = http.get("/eta", params={"stop_id": stop, "route_id": "4"})
    assert other_route.status_code == 200 and other_route.json()["arrivals"] == []


def test_eta_errors_and_empty_stop(http: httpx.Client, api: Settings, feed: Feed) -> None:
    assert "no such stop" not in feed.stops
    assert_error(http.get("/eta", params={"stop_id": "no such stop"}), 404, "not_found")
    assert_error(http.get("/eta"), 422, "invalid_request")
    assert_error(http.get("/eta", params={"stop_id": "12", "limit": 0}), 422, "invalid_request")
    too_many = http.get("/eta", params={"stop_id": "12", "limit": api.api.eta_limit_max + 1})
    assert "at most" in assert_error(too_many, 422, "invalid_request")["message"]
    assert_error(http.get("/eta", params={"stop_id": "12", "route_id": "R?"}), 404, "not_found")
    quiet = sorted(set(feed.stops) - {st.stop_id for sts in feed.stop_times.values() for st in sts})
    stop = quiet[0] if quiet else "12"
    empty = http.get("/eta", params={"stop_id": stop, "route_id": "1"})
    assert empty.status_code == 200 and empty.json()["arrivals"] == []


def test_vehicle_state_with_open_anomalies(http: httpx.Client, api: Settings) -> None:
    v = vid("v")
    now = datetime.now(UTC)
    write_rows(
        api,
        vehicles=[vehicle(v, now - timedelta(seconds=5), trip_id="1025020", speed=7.5,
                          bearing=90.0, delay_s=120, next_stop_id="166", next_stop_sequence=2)],
        anomalies=[
            {"anomaly_id": f"{v}-open", "kind": "stalled", "state": "open", "vehicle_id": v,
             "event_time": now, "evidence": {"standing_s": 200}},
            {"anomaly_id": f"{v}-closed", "kind": "late", "state": "closed", "vehicle_id": v,
             "event_time": now},
        ],
    )  # fmt: skip
    body = http.get(f"/vehicles/{v}").json()
    assert body["vehicle_id"] == v and body["speed"] == 7.5 and body["delay_s"] == 120
    assert body["headsign"] == "ALTON PARK" and body["next_stop_name"]
    assert body["stale"] is False and 4 <= body["age_s"] < 60
    assert [a["anomaly_id"] for a in body["open_anomalies"]] == [f"{v}-open"]
    assert body["open_anomalies"][0]["evidence"] == {"standing_s": 200}
    assert_error(http.get(f"/vehicles/{vid('never')}"), 404, "not_found")


def test_staleness_by_flag_or_by_silence(http: httpx.Client, api: Settings) -> None:
    route = f"r-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    silent_for = api.project.stale_after_s + 30
    live, flagged, silent = vid("live"), vid("flag"), vid("silent")
    nearly = now - timedelta(seconds=api.project.stale_after_s - 20)  # not silent for the API yet
    write_rows(
        api,
        vehicles=[
            vehicle(live, now, route_id=route),
            vehicle(flagged, nearly, route_id=route),
            vehicle(silent, now - timedelta(seconds=silent_for), route_id=route),
        ],
    )
    assert http.get(f"/vehicles/{flagged}").json()["stale"] is False
    with connect(api) as conn:  # the projector's sweep, 30 s ahead: it flags `flagged`
        sweep(conn, api, now + timedelta(seconds=30))
    assert http.get(f"/vehicles/{silent}").json()["stale"] is True
    # by the flag alone; read-your-writes is best-effort (the sweep's NOTIFY reaches the API
    # asynchronously, and until then the cache may answer): at once as a rule, within a scan
    assert wait_until(lambda: http.get(f"/vehicles/{flagged}").json()["stale"] is True, 2.0, 0.02)

    def ids(**params: Any) -> list[str]:
        body = http.get("/vehicles", params={"route_id": route, **params}).json()
        return [v["vehicle_id"] for v in body["vehicles"]]

    assert ids() == sorted([live, flagged, silent])
    assert ids(stale="true") == sorted([flagged, silent])
    assert ids(stale="false") == [live]


def test_vehicle_pages_follow_the_cursor(http: httpx.Client, api: Settings) -> None:
    route = f"r-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    mine = sorted(vid(f"p{i}") for i in range(5))
    write_rows(api, vehicles=[vehicle(v, now, route_id=route) for v in mine])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"route_id": route, "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = http.get("/vehicles", params=params).json()
        seen += [v["vehicle_id"] for v in body["vehicles"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == mine and pages == 3
    assert_error(http.get("/vehicles", params={"cursor": "%%%"}), 422, "invalid_request")
    big = http.get("/vehicles", params={"limit": api.api.page_size_max + 1})
    assert_error(big, 422, "invalid_request")
    assert_error(http.get("/vehicles", params={"stale": "maybe"}), 422, "invalid_request")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/vehicles", {"cursor": "B\u00ec\u00b28"}),  # non-ASCII: b64decode's ValueError
        ("/vehicles", {"cursor": "AA"}),  # decodes to a NUL, which Postgres text refuses
        ("/vehicles", {"route_id": "1\x00"}),
        ("/vehicles/a%00b", {}),
    ],
)
def test_schemathesis_finds_are_422_not_500(
    http: httpx.Client, path: str, params: dict[str, str]
) -> None:
    """Regressions from tests/integration/test_serve_schema.py: these were 500s."""
    assert_error(http.get(path, params=params), 422, "invalid_request")


@pytest.mark.parametrize("path", ["/stops", "/routes", "/shapes"])
def test_reference_is_cacheable(http: httpx.Client, feed: Feed, path: str) -> None:
    first = http.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and "max-age" in first.headers["cache-control"]
    again = http.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert http.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    body = first.json()
    if path == "/stops":
        assert len(body) == len(feed.stops)
        stop = next(s for s in body if s["stop_id"] == "1939")
        assert "1" in stop["routes"] and stop["name"] == feed.stops["1939"].name
    elif path == "/routes":
        assert {r["route_id"] for r in body} == set(feed.routes)
        assert all(r["color"].startswith("#") for r in body)
        assert {r["timezone"] for r in body} == {feed.timezone} == {"America/New_York"}
    else:
        assert {r["route_id"] for r in body} <= set(feed.routes)
        vertices = sum(len(line) for r in body for line in r["shapes"])
        assert 0 < vertices < sum(len(s.lats) for s in feed.shapes.values())


def test_gtfs_realtime_feeds(http: httpx.Client, api: Settings, feed: Feed) -> None:
    trip = first_trip(feed, "4")
    now = datetime.now(UTC)
    fresh, silent = vid("rt"), vid("rt-silent")
    gone_after = api.api.realtime_stale_s + 60
    write_rows(
        api,
        vehicles=[
            vehicle(fresh, now - timedelta(seconds=3), route_id="4", trip_id=trip,
                    next_stop_id=feed.stop_times[trip][0].stop_id, next_stop_sequence=1),
            vehicle(silent, now - timedelta(seconds=gone_after), route_id="4", trip_id=trip),
        ],
        etas=trip_arrivals(api, fresh, trip, now + timedelta(minutes=1))[:5]
        + trip_arrivals(api, silent, trip, now + timedelta(minutes=1))[:5],
    )  # fmt: skip
    positions = rt.FeedMessage.FromString(http.get("/gtfs-rt/vehicle-positions").content)
    assert positions.header.gtfs_realtime_version == "2.0"
    ids = {e.vehicle.vehicle.id for e in positions.entity}
    assert fresh in ids and silent not in ids
    entity = next(e for e in positions.entity if e.id == fresh)
    assert entity.vehicle.trip.trip_id == trip and entity.vehicle.stop_id
    assert positions.header.timestamp >= int((now - timedelta(seconds=3)).timestamp())
    assert positions.header.timestamp <= time.time() + 1

    response = http.get("/gtfs-rt/trip-updates")
    assert response.headers["content-type"] == "application/x-protobuf"
    updates = rt.FeedMessage.FromString(response.content)
    mine = [e.trip_update for e in updates.entity if e.trip_update.vehicle.id == fresh]
    assert len(mine) == 1 and mine[0].trip.trip_id == trip
    sequences = [u.stop_sequence for u in mine[0].stop_time_update]
    assert sequences == sorted(sequences) and len(sequences) == 5
    assert mine[0].stop_time_update[0].arrival.delay == 60
    assert all(e.trip_update.vehicle.id != silent for e in updates.entity)

    as_json = http.get("/gtfs-rt/trip-updates", params={"format": "json"})
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json()["header"]["gtfs_realtime_version"] == "2.0"
    assert_error(http.get("/gtfs-rt/trip-updates", params={"format": "xml"}), 422,
                 "invalid_request")  # fmt: skip


def feed_ids(message: rt.FeedMessage) -> dict[str, set[str]]:
    """Every trip, route and stop id a GTFS-realtime feed names, wherever it names one."""
    ids: dict[str, set[str]] = {"trip": set(), "route": set(), "stop": set()}
    for e in message.entity:
        for trip in (e.trip_update.trip, e.vehicle.trip):
            ids["trip"].add(trip.trip_id)
            ids["route"].add(trip.route_id)
        ids["stop"].add(e.vehicle.stop_id)
        ids["stop"].update(u.stop_id for u in e.trip_update.stop_time_update)
    return {kind: found - {""} for kind, found in ids.items()}


def omitted_count(http: httpx.Client) -> float:
    lines = http.get("/metrics").text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("serve_realtime_omitted_total{"))  # fmt: skip


def test_gtfs_realtime_names_only_static_ids(http: httpx.Client, api: Settings, feed: Feed) -> None:
    """Rows naming a trip, route and stop the static feed lacks are written first (other tests
    add fake route ids to this database too): the whole of both feeds must still name only ids
    of `load_feed(settings.gtfs_path)`, and what was left out is counted."""
    trip = first_trip(feed, "4")
    now = datetime.now(UTC)
    ghost_trip, ghost_stop = vid("bus"), vid("stop")
    bad_trip, bad_route, bad_stop = f"{PREFIX}trip-x", f"{PREFIX}route-x", f"{PREFIX}stop-x"
    etas = trip_arrivals(api, ghost_trip, trip, now + timedelta(minutes=1))[:3]
    etas[1]["stop_id"] = bad_stop  # one unknown stop inside a known trip
    write_rows(
        api,
        vehicles=[
            vehicle(ghost_trip, now - timedelta(seconds=2), route_id=bad_route,
                    trip_id=bad_trip, next_stop_id=bad_stop, next_stop_sequence=3),
            vehicle(ghost_stop, now - timedelta(seconds=2), route_id="4", trip_id=trip,
                    next_stop_id=bad_stop),
        ],
        etas=[*etas, eta_row(ghost_trip, bad_trip, 1, feed.stop_times[trip][0].stop_id,
                             route_id=bad_route)],
    )  # fmt: skip
    before = omitted_count(http)
    positions = rt.FeedMessage.FromString(http.get("/gtfs-rt/vehicle-positions").content)
    updates = rt.FeedMessage.FromString(http.get("/gtfs-rt/trip-updates").content)
    for message in (positions, updates):
        ids = feed_ids(message)
        assert ids["trip"] <= set(feed.trips), ids["trip"] - set(feed.trips)
        assert ids["route"] <= set(feed.routes), ids["route"] - set(feed.routes)
        assert ids["stop"] <= set(feed.stops), ids["stop"] - set(feed.stops)
    bus = next(e.vehicle for e in positions.entity if e.id == ghost_trip)
    assert not bus.HasField("trip") and not bus.stop_id  # still on the map, no unknown ids
    mine = [e.trip_update for e in updates.entity if e.trip_update.vehicle.id == ghost_trip]
    assert [tu.trip.trip_id for tu in mine] == [trip]  # the unknown trip has no TripUpdate
    assert len(mine[0].stop_time_update) == 2
    # positions: the first bus's trip, route and stop, the second's stop; updates: the unknown
    # trip, the unknown stop inside the known one (other tests' rows may add more)
    assert omitted_count(http) >= before + 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_postgres_down_is_503_with_the_fix(stack: Settings) -> None:
    """An API whose Postgres is gone starts anyway, and says so (without disturbing the stack)."""
    port = _free_port()
    env = {**os.environ, "TRANSITSTREAM_POSTGRES__PORT": str(_free_port())}
    argv = [sys.executable, "-m", "transitstream.serve", "--port", str(port), "--log-level",
            "warning"]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{url}/healthz", timeout=10)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
        assert health.status_code == 503 and "transitstream infra up" in health.json()["postgres"]
        eta = httpx.get(f"{url}/eta", params={"stop_id": "12"}, timeout=30)
        assert "transitstream infra up" in assert_error(eta, 503, "unavailable")["message"]
        assert httpx.get(f"{url}/stops", timeout=10).status_code == 200  # GTFS needs no database
    finally:
        proc.terminate()
        proc.wait(10)
