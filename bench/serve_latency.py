"""Read API latency: `GET /eta` p50/p99 and requests/s under concurrency, and WebSocket fan-out
to N clients (push lag p50/p99: receive time - event time of each vehicle state pushed).

Runs on a stack of its own (ports base..base+99, default 31000, state in
.transitstream/bench-serve), started and stopped here, so a demo or a test session on other ports
is not disturbed:

    .venv/bin/python bench/serve_latency.py --vehicles 500 --concurrency 16 --clients 100,500

The read models are filled with generated rows (bench data, written as a projector writes them).
Figures are printed and appended to bench/results.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

from transitstream.config import Settings, project_root
from transitstream.gtfs import load_feed
from transitstream.infra import stack
from transitstream.infra.port_block import port_block_env, settings_of
from transitstream.infra.process import running_process, stop
from transitstream.serve.app import create_app
from transitstream.serve.process import COMPONENT as SERVE
from transitstream.serve.sample import delete_vehicles, write_rows

RESULTS = Path(__file__).parent / "results.md"
PREFIX = "bench-serve-"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * p / 100) - 1))]


def seed_rows(settings: Settings, vehicles: int, etas_per_vehicle: int) -> list[str]:
    """`vehicles` buses on real trips, each with ETAs for its next stops; returns the busy stops."""
    feed = load_feed(settings.gtfs_path)
    trips = sorted(feed.trips)
    rng = random.Random(7)
    now = datetime.now(UTC)
    rows_v, rows_e, stops = [], [], set()
    for i in range(vehicles):
        trip = feed.trips[rng.choice(trips)]
        vid = f"{PREFIX}{i:05d}"
        rows_v.append({"vehicle_id": vid, "route_id": trip.route_id, "trip_id": trip.trip_id,
                       "lat": 35.0 + rng.random() * 0.1, "lon": -85.35 + rng.random() * 0.1,
                       "event_time": now, "delay_s": rng.randint(-60, 400)})  # fmt: skip
        for k, st in enumerate(feed.stop_times[trip.trip_id][:etas_per_vehicle]):
            at = now + timedelta(seconds=60 + 90 * k)
            rows_e.append({"vehicle_id": vid, "trip_id": trip.trip_id,
                           "stop_sequence": st.stop_sequence, "stop_id": st.stop_id,
                           "route_id": trip.route_id, "predicted_time": at,
                           "prediction_time": now, "scheduled_time": at - timedelta(seconds=60),
                           "horizon_s": 60 + 90 * k})  # fmt: skip
            stops.add(st.stop_id)
    write_rows(settings, vehicles=rows_v, etas=rows_e)
    return sorted(stops)


async def bench_eta(
    settings: Settings, stops: list[str], concurrency: int, seconds: float
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=settings.api.url, limits=limits, timeout=30) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await client.get("/eta", params={"stop_id": rng.choice(stops)})
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        wall = time.perf_counter() - start
    return len(latencies) / wall, latencies, errors


async def bench_in_process(settings: Settings, stops: list[str], n: int) -> float:
    """ms per /eta request through the app in this process (no sockets, no uvicorn): the
    server's own cost, apart from the machine's other load and the client's."""
    app = create_app(settings)
    rng = random.Random(3)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            for _ in range(50):
                await client.get("/eta", params={"stop_id": rng.choice(stops)})
            start = time.perf_counter()
            for _ in range(n):
                await client.get("/eta", params={"stop_id": rng.choice(stops)})
            return (time.perf_counter() - start) * 1000 / n


async def bench_fanout(
    settings: Settings, clients: int, vehicles: list[str], routes: dict[str, str], seconds: float
) -> dict[str, Any]:
    """`clients` subscribers of one route each (round robin); a writer moves every vehicle each
    push interval; each client records receive time - event time of every state it gets."""
    lags: list[float] = []
    received = 0
    route_ids = sorted(set(routes.values()))
    url = settings.api.url.replace("http://", "ws://") + "/ws/live"
    stop_event = threading.Event()
    connected = asyncio.Event()
    ready = 0

    async def client(i: int) -> None:
        nonlocal received, ready
        route = route_ids[i % len(route_ids)]
        async with websockets.connect(f"{url}?route_id={route}", max_size=2**24) as ws:
            while json.loads(await ws.recv())["type"] != "snapshot":
                pass
            ready += 1
            if ready == clients:
                connected.set()
            while not stop_event.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time()
                message = json.loads(raw)
                for v in message.get("vehicles", ()):
                    lags.append(now - datetime.fromisoformat(v["last_seen"]).timestamp())
                    received += 1

    def writer() -> int:
        ticks = 0
        while not stop_event.is_set():
            now = datetime.now(UTC)
            write_rows(settings, vehicles=[
                {"vehicle_id": v, "route_id": routes[v], "lat": 35.0 + ticks * 1e-5,
                 "lon": -85.3, "event_time": now} for v in vehicles])  # fmt: skip
            ticks += 1
            time.sleep(settings.api.push_interval_s)
        return ticks

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await asyncio.wait_for(connected.wait(), 120)
    proc = psutil.Process(_server_pid(settings))
    proc.cpu_percent()
    writing = asyncio.create_task(asyncio.to_thread(writer))
    await asyncio.sleep(seconds)
    stop_event.set()
    ticks = await writing
    cpu = proc.cpu_percent()
    await asyncio.gather(*tasks)
    per_route = {r: sum(1 for v in vehicles if routes[v] == r) for r in route_ids}
    expected = ticks * sum(per_route[route_ids[i % len(route_ids)]] for i in range(clients))
    return {"clients": clients, "lags": lags, "received": received, "ticks": ticks,
            "expected": expected, "cpu": cpu, "seconds": seconds}  # fmt: skip


def _server_pid(settings: Settings) -> int:
    proc = running_process(SERVE.managed(settings))
    assert proc is not None, "the API is not running"
    return int(proc.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=int, default=31000, help="port block of the own stack")
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--etas", type=int, default=30, help="ETAs per vehicle")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent /eta requests")
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--clients", default="10,100,500", help="WebSocket client counts")
    parser.add_argument("--moving", type=int, default=100, help="vehicles updated each tick")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    parser.add_argument("--dry", action="store_true", help="print only; no bench/results.md")
    args = parser.parse_args()

    state = project_root() / ".transitstream" / "bench-serve"
    settings = settings_of(port_block_env(state, args.base))
    os.environ.update(port_block_env(state, args.base))
    load_before = os.getloadavg()
    stack.up(settings)
    stack.start(SERVE, settings)
    try:
        delete_vehicles(settings, PREFIX)
        stops = seed_rows(settings, args.vehicles, args.etas)
        in_process_ms = asyncio.run(bench_in_process(settings, stops, 2000))
        rate1, lat1, _ = asyncio.run(bench_eta(settings, stops, 1, args.seconds / 2))
        rate, lat, errors = asyncio.run(bench_eta(settings, stops, args.concurrency, args.seconds))
        lat_ms, lat1_ms = [x * 1000 for x in lat], [x * 1000 for x in lat1]
        with httpx.Client(base_url=settings.api.url) as c:
            one = c.get("/eta", params={"stop_id": stops[0]}).json()
        feed_routes = {r["vehicle_id"]: r["route_id"] for r in _vehicles(settings)}
        moving = sorted(feed_routes)[: args.moving]
        fanouts = [
            asyncio.run(bench_fanout(settings, int(n), moving, feed_routes, args.seconds))
            for n in args.clients.split(",")
        ]
    finally:
        delete_vehicles(settings, PREFIX)
        if not args.keep:
            stop(SERVE.managed(settings))
            stack.down(settings)
    load_after = os.getloadavg()

    lines = [
        f"## serve latency, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB",
        f"- read API (`transitstream.serve`, one uvicorn worker, pool {settings.api.pool_size}) "
        f"on its own stack (ports {args.base}..{args.base + 99}); client and server share the "
        f"machine; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after",
        f"- read models: {args.vehicles} vehicles on real CARTA trips, {args.etas} ETAs each "
        f"({len(stops)} stops with arrivals; a board has {len(one['arrivals'])} rows, "
        f"limit {settings.api.eta_limit})",
        "",
        f"`GET /eta?stop_id=<random busy stop>`, {args.concurrency} concurrent requests for "
        f"{args.seconds:.0f} s: **{rate:,.0f} requests/s**, latency p50 "
        f"{statistics.median(lat_ms):.1f} ms, p99 {pct(lat_ms, 99):.1f} ms, max "
        f"{max(lat_ms):.1f} ms; {errors} errors",
        f"- one request at a time (the floor): {rate1:,.0f} requests/s, p50 "
        f"{statistics.median(lat1_ms):.1f} ms, p99 {pct(lat1_ms, 99):.1f} ms",
        f"- the app alone, in-process (ASGI transport, no sockets, same queries): "
        f"{in_process_ms:.2f} ms per request = {1000 / in_process_ms:,.0f} requests/s per core",
        "",
        f"WebSocket fan-out: {args.moving} vehicles move every push interval "
        f"({settings.api.push_interval_s} s); each client subscribes to one route (round robin "
        f"over {len(set(feed_routes[v] for v in moving))} routes); push lag = receive time - "
        "event time (includes up to one poll interval of waiting, and the writer's commit):",
        "",
        "| clients | states delivered | delivered / expected | states/s | push lag p50 / p99 / "
        "max ms | server CPU % |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for f in fanouts:
        lags = [x * 1000 for x in f["lags"]] or [float("nan")]
        lines.append(
            f"| {f['clients']} | {f['received']:,} | {f['received'] / max(f['expected'], 1):.2f} "
            f"| {f['received'] / f['seconds']:,.0f} | {statistics.median(lags):.0f} / "
            f"{pct(lags, 99):.0f} / {max(lags):.0f} | {f['cpu']:.0f} |"
        )
    lines.append("")
    print("\n".join(lines))
    if args.dry:
        return
    with RESULTS.open("a") as out:
        out.write("\n" + "\n".join(lines) + "\n")


def _vehicles(settings: Settings) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client(base_url=settings.api.url, timeout=30) as c:
        while True:
            params: dict[str, Any] = {"limit": settings.api.page_size_max}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/vehicles", params=params).json()
            out += [v for v in page["vehicles"] if v["vehicle_id"].startswith(PREFIX)]
            cursor = page["next_cursor"]
            if not cursor:
                return out


if __name__ == "__main__":
    main()
