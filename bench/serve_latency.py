"""Read API latency: `GET /eta` and `GET /vehicles/{id}` p50/p99 and requests/s under
concurrency, and WebSocket fan-out to N clients (push lag p50/p99: receive time - event time of
each vehicle state pushed), against the issue's targets (p99 under 10 ms at 2,000 requests/s;
push lag p99 under 500 ms with 1,000 clients), printed as met or not.

The HTTP load comes from `wrk` (a separate C load generator, Debian's `wrk`, in
transitstream/infra/system-packages.sh) when it is installed, and from this script's Python
client as well: a Python client on the same 2 cores takes CPU from the server it measures. wrk's
`done()` hook prints its own percentiles as JSON, parsed here.

Runs on a stack of its own (ports base..base+99, default 31000, state in
.transitstream/bench-serve), started and stopped here, so a demo or a test session on other ports
is not disturbed; about 4 minutes with the defaults:

    .venv/bin/python bench/serve_latency.py --vehicles 500 --concurrency 16 --clients 100,1000

The issue's HTTP target is judged on a wrk run *paced* to the target rate (`--paced`, 2,000
requests/s by default; each connection waits between requests, the wait calibrated by a short
probe so the achieved rate is close to the target): its p99, and an achieved rate of at least
95% of the target. The closed-loop wrk run (as fast as it goes) gives the capacity.
`--workers` sets the API's uvicorn worker processes (Settings.api.workers by default).

The WebSocket clients run in `--client-procs` processes (4 by default), so that one client
process's own event loop (1,000 sockets, JSON decoding) is not what the push lag measures; each
records its loop delay, reported as the p99 over all of them.

The read models are filled with generated rows (bench data, written as a projector writes them).
Figures are printed and appended to bench/results.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import tempfile
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
TARGET_P99_MS, TARGET_RATE = 10.0, 2000.0  # the HTTP target: p99 < 10 ms at 2,000 req/s
TARGET_LAG_MS, TARGET_CLIENTS = 500.0, 1000  # and push lag p99 < 500 ms with 1,000 clients
WRK_SCRIPT = """
local paths = {%s}
math.randomseed(7)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
%s
done = function(s, latency, _)
  local e = s.errors
  io.write(string.format('WRK_JSON {"requests": %%d, "duration_us": %%d, "errors": %%d, '
    .. '"non2xx": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d}\\n', s.requests, s.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50),
    latency:percentile(99), latency.max))
end
"""


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


def eta_path(stop_id: str) -> str:
    return f"/eta?stop_id={stop_id}"


def vehicle_path(vehicle_id: str) -> str:
    return f"/vehicles/{vehicle_id}"


async def bench_http(
    settings: Settings, paths: list[str], concurrency: int, seconds: float
) -> tuple[float, list[float], int]:
    """The Python load generator: `concurrency` workers GET random `paths` for `seconds`."""
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
                r = await client.get(rng.choice(paths))
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        wall = time.perf_counter() - start
    return len(latencies) / wall, latencies, errors


def _tree(pid: int) -> list[psutil.Process]:
    """The API process and its uvicorn workers (their CPU is the server's)."""
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def bench_wrk(
    settings: Settings,
    paths: list[str],
    connections: int,
    seconds: float,
    pid: int,
    rate: float | None = None,
    delay_ms: float | None = None,
) -> dict[str, Any]:
    """wrk, one thread (the other core is the server's), `connections` keep-alive connections
    GETting random `paths`; returns its figures and the server's CPU % meanwhile.

    With `rate`, each connection waits connections/rate s before its next request (wrk's
    `delay()` hook): a paced load of at most `rate` requests/s, to read the latency below
    saturation (wrk has no open-loop mode; wrk2's -R is not in Debian)."""
    quoted = ", ".join(json.dumps(p) for p in paths)
    if rate and delay_ms is None:
        delay_ms = connections * 1000 / rate
    pace = f"delay = function() return {delay_ms:.2f} end" if delay_ms is not None else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % (quoted, pace))
    server = _tree(pid)
    for p in server:
        p.cpu_percent()
    load = os.getloadavg()[0]
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "5s",
             "-s", script.name, settings.api.url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    cpu = sum(p.cpu_percent() for p in server)
    found = re.search(r"^WRK_JSON (.*)$", out, re.M)
    assert found, f"no WRK_JSON line in wrk's output:\n{out}"
    figures: dict[str, Any] = json.loads(found.group(1))
    return {**figures, "rate": figures["requests"] / (figures["duration_us"] / 1e6), "cpu": cpu,
            "p50_ms": figures["p50_us"] / 1000, "p99_ms": figures["p99_us"] / 1000,
            "max_ms": figures["max_us"] / 1000, "delay_ms": delay_ms, "load": load}  # fmt: skip


def bench_paced(
    settings: Settings, paths: list[str], connections: int, seconds: float, pid: int, rate: float
) -> dict[str, Any]:
    """wrk paced to about `rate`: a 3 s probe with the plain wait (connections / rate) measures
    the rest of each connection's cycle (the request itself), which the real run's wait leaves
    out, so the achieved rate lands near `rate` rather than below it."""
    wait = connections * 1000 / rate
    probe = bench_wrk(settings, paths, connections, 3, pid, delay_ms=wait)
    busy_ms = max(0.0, connections * 1000 / probe["rate"] - wait)
    # at most half the wait taken off: a probe slowed by a stall must not make the run closed-loop
    return bench_wrk(
        settings, paths, connections, seconds, pid, delay_ms=max(wait / 2, wait - busy_ms)
    )


async def bench_in_process(settings: Settings, paths: list[str], n: int) -> dict[str, float]:
    """us per request (random `paths`) through the app in this process, driven as uvicorn
    drives it (one ASGI call per request; no sockets, no HTTP client): the server's own cost,
    apart from the machine's other load and the client's. Every path is asked once first, so
    the figure is the cache-hit cost; `miss_us` is the same with the cache off."""
    app = create_app(settings)
    rng = random.Random(3)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(1.0)  # the poller's first scans: the cache is live after them
        for path in paths:
            assert await _asgi_get(app, path) == 200, path
        start = time.perf_counter()
        for _ in range(n):
            await _asgi_get(app, rng.choice(paths))
        hit = (time.perf_counter() - start) * 1e6 / n
        app.state.serving.cache.max_entries = 0
        app.state.serving.cache.clear()
        start = time.perf_counter()
        for _ in range(n // 4):
            await _asgi_get(app, rng.choice(paths))
        miss = (time.perf_counter() - start) * 1e6 / (n // 4)
    return {"hit_us": hit, "miss_us": miss}


async def _asgi_get(app: Any, path: str) -> int:
    route, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": route, "raw_path": route.encode(), "root_path": "",
             "query_string": query.encode(), "headers": [(b"host", b"api")],
             "client": ("127.0.0.1", 1), "server": ("api", 80)}  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        status = message.get("status", status)

    await app(scope, receive, send)
    return status


def push_lag_buckets(settings: Settings, workers: int) -> dict[str, float]:
    """The server's own push-lag histogram (send time - event time), cumulative by bucket, summed
    over its worker processes: each keeps its own registry, and which one answers /metrics is the
    kernel's choice, so /metrics is asked on new connections until every worker has answered
    (told apart by process_start_time_seconds)."""
    seen: dict[str, dict[str, float]] = {}
    for _ in range(40 * workers):
        text = httpx.get(settings.api.url + "/metrics", timeout=10,
                         headers={"Connection": "close"}).text  # fmt: skip
        started = re.search(r"^process_start_time_seconds (\S+)$", text, re.M)
        found = re.findall(r'^serve_push_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M)
        seen[started.group(1) if started else "?"] = {le: float(n) for le, n in found}
        if len(seen) >= workers:
            break
    total: dict[str, float] = {}
    for buckets in seen.values():
        for le, n in buckets.items():
            total[le] = total.get(le, 0.0) + n
    return total


async def _clients(
    url: str, routes: list[str], ready: Any, stop_event: Any
) -> tuple[list[float], list[float]]:
    """One client process's share: a WebSocket per entry of `routes` (subscribed to it); each
    records receive time - event time of every vehicle state it gets, until `stop_event`."""
    lags: list[float] = []
    opening = asyncio.Semaphore(25)  # not all handshakes at once: the listen backlog is finite
    connected = 0
    all_in = asyncio.Event()

    async def client(route: str) -> None:
        nonlocal connected
        async with opening:
            ws = await websockets.connect(f"{url}?route_id={route}", max_size=2**24,
                                          open_timeout=60)  # fmt: skip
        async with ws:
            while json.loads(await ws.recv())["type"] != "snapshot":
                pass
            connected += 1
            if connected == len(routes):
                all_in.set()
            while not stop_event.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                now = time.time()
                for v in json.loads(raw).get("vehicles", ()):
                    lags.append(now - datetime.fromisoformat(v["last_seen"]).timestamp())

    loop_delays: list[float] = []

    async def ticker() -> None:
        while not stop_event.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.05)
            loop_delays.append(time.perf_counter() - t0 - 0.05)

    tasks = [asyncio.create_task(client(r)) for r in routes]
    waiting = asyncio.create_task(all_in.wait())
    await asyncio.wait([waiting, *tasks], timeout=180, return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in tasks if t.done() and t.exception()]
    if not all_in.is_set():
        raise RuntimeError(f"{connected}/{len(routes)} clients connected; first error: "
                           + (repr(failed[0].exception()) if failed else "timed out"))  # fmt: skip
    ready.release()
    lags.clear()  # states received before the measurement starts do not count
    await asyncio.gather(*tasks, ticker())
    return lags, loop_delays


def _client_process(url: str, routes: list[str], ready: Any, stop_event: Any, out: Any) -> None:
    try:
        out.send(("ok", asyncio.run(_clients(url, routes, ready, stop_event))))
    except Exception as exc:  # reported by the parent, which would otherwise wait forever
        ready.release()
        out.send(("error", repr(exc)))


async def bench_fanout(
    settings: Settings,
    clients: int,
    vehicles: list[str],
    routes: dict[str, str],
    seconds: float,
    procs: int,
    workers: int,
) -> dict[str, Any]:
    """`clients` subscribers of one route each (round robin), spread over `procs` client
    processes; a writer moves every vehicle each push interval; each client records receive
    time - event time of every state it gets.

    Each client process's event loop delay (a ticker that sleeps 50 ms) is part of the lag its
    clients record; the server's histogram (send time) is read from /metrics before and after, to
    tell the two apart."""
    route_ids = sorted(set(routes.values()))
    url = settings.api.url.replace("http://", "ws://") + "/ws/live"
    procs = max(1, min(procs, clients))
    ctx = multiprocessing.get_context("spawn")
    ready, stop_event = ctx.Semaphore(0), ctx.Event()
    shares = [[route_ids[i % len(route_ids)] for i in range(p, clients, procs)]
              for p in range(procs)]  # fmt: skip
    pipes, children = [], []
    t_connect = time.perf_counter()
    for share in shares:
        mine, theirs = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_client_process, args=(url, share, ready, stop_event, theirs))
        child.start()
        pipes.append(mine)
        children.append(child)
    for _ in shares:
        assert await asyncio.to_thread(ready.acquire, True, 240), "client processes timed out"
    early = [p.recv() for p in pipes if p.poll()]
    assert not early, f"a client process failed: {early}"
    connect_s = time.perf_counter() - t_connect
    proc = _tree(_server_pid(settings))
    for p in proc:
        p.cpu_percent()
    buckets_before = push_lag_buckets(settings, workers)

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

    writing = asyncio.create_task(asyncio.to_thread(writer))
    await asyncio.sleep(seconds)
    stop_event.set()
    ticks = await writing
    cpu = sum(p.cpu_percent() for p in proc)
    await asyncio.sleep(1.0)  # the last tick's pushes
    after = push_lag_buckets(settings, workers)
    buckets = {le: n - buckets_before.get(le, 0) for le, n in after.items()}
    lags: list[float] = []
    loop_delays: list[float] = []
    for pipe, child in zip(pipes, children, strict=True):
        status, result = await asyncio.to_thread(pipe.recv)
        assert status == "ok", f"a client process failed: {result}"
        lags += result[0]
        loop_delays += result[1]
        child.join(10)
    per_route = {r: sum(1 for v in vehicles if routes[v] == r) for r in route_ids}
    expected = ticks * sum(per_route[route_ids[i % len(route_ids)]] for i in range(clients))
    return {"clients": clients, "lags": lags, "received": len(lags), "ticks": ticks,
            "expected": expected, "cpu": cpu, "seconds": seconds, "connect_s": connect_s,
            "loop_delays": loop_delays, "server_buckets": buckets, "procs": procs}  # fmt: skip


def _server_pid(settings: Settings) -> int:
    proc = running_process(SERVE.managed(settings))
    assert proc is not None, "the API is not running"
    return int(proc.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=int, default=31000, help="port block of the own stack")
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--etas", type=int, default=30, help="ETAs per vehicle")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent HTTP requests")
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--paced", type=float, default=TARGET_RATE, help="wrk's paced requests/s")
    parser.add_argument("--workers", type=int, help="API worker processes [Settings.api.workers]")
    parser.add_argument("--clients", default="100,1000", help="WebSocket client counts")
    parser.add_argument("--client-procs", type=int, default=4, help="WebSocket client processes")
    parser.add_argument("--moving", type=int, default=100, help="vehicles updated each tick")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    parser.add_argument("--dry", action="store_true", help="print only; no bench/results.md")
    args = parser.parse_args()

    state = project_root() / ".transitstream" / "bench-serve"
    env = port_block_env(state, args.base)
    if args.workers:
        env["TRANSITSTREAM_API__WORKERS"] = str(args.workers)
    settings = settings_of(env)
    os.environ.update(env)
    run: dict[str, Any] = {"load_before": os.getloadavg()}
    stack.up(settings)
    stop(SERVE.managed(settings))  # one kept by --keep may run other code or other settings
    stack.start(SERVE, settings)
    try:
        delete_vehicles(settings, PREFIX)
        stops = seed_rows(settings, args.vehicles, args.etas)
        paths = {
            "eta": [eta_path(s) for s in stops],
            "vehicle": [vehicle_path(f"{PREFIX}{i:05d}") for i in range(args.vehicles)],
        }
        run["stops"] = len(stops)
        for name, some in paths.items():
            run[f"{name}_in_process"] = asyncio.run(bench_in_process(settings, some, 4000))
        run["eta_one"] = asyncio.run(bench_http(settings, paths["eta"], 1, args.seconds / 2))
        for name, some in paths.items():
            run[f"{name}_py"] = asyncio.run(
                bench_http(settings, some, args.concurrency, args.seconds)
            )
        if shutil.which("wrk"):
            pid = _server_pid(settings)
            for name, some in paths.items():
                bench_wrk(settings, some, args.concurrency, 3, pid)  # every worker's cache warm
                run[f"{name}_wrk"] = bench_wrk(settings, some, args.concurrency, args.seconds, pid)
                run[f"{name}_paced"] = bench_paced(
                    settings, some, args.concurrency, args.seconds, pid, args.paced
                )
        with httpx.Client(base_url=settings.api.url) as c:
            run["board_rows"] = len(c.get(paths["eta"][0]).json()["arrivals"])
        feed_routes = {r["vehicle_id"]: r["route_id"] for r in _vehicles(settings)}
        moving = sorted(feed_routes)[: args.moving]
        run["routes_moving"] = len({feed_routes[v] for v in moving})
        run["fanouts"] = []
        for n in args.clients.split(","):
            fanout = bench_fanout(settings, int(n), moving, feed_routes, args.seconds,
                                  args.client_procs, settings.api.workers)  # fmt: skip
            run["fanouts"].append(asyncio.run(fanout))
    finally:
        delete_vehicles(settings, PREFIX)
        if not args.keep:
            stop(SERVE.managed(settings))
            stack.down(settings)
    run["load_after"] = os.getloadavg()
    lines = report(settings, args, run)
    print("\n".join(lines))
    if args.dry:
        return
    with RESULTS.open("a") as out:
        out.write("\n" + "\n".join(lines) + "\n")


def _py_line(what: str, concurrency: int, seconds: float, figures: Any) -> str:
    rate, latencies, errors = figures
    ms = [x * 1000 for x in latencies]
    return (
        f"- {what}, Python client, {concurrency} concurrent for {seconds:.0f} s: "
        f"{rate:,.0f} requests/s, p50 {statistics.median(ms):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
        f"max {max(ms):.1f} ms; {errors} errors"
    )


def _wrk_line(
    what: str, concurrency: int, seconds: float, w: dict[str, Any], paced: float | None = None
) -> str:
    how = (
        f"paced to about {paced:,.0f} requests/s (a {w['delay_ms']:.1f} ms wait per request), "
        if paced
        else ""
    )
    return (
        f"- {what}, **wrk** (1 thread, {concurrency} connections, {how}{seconds:.0f} s): "
        f"**{w['rate']:,.0f} requests/s**, p50 {w['p50_ms']:.1f} ms, **p99 {w['p99_ms']:.1f} "
        f"ms**, max {w['max_ms']:.1f} ms; {w['errors']} socket errors, {w['non2xx']} non-2xx; "
        f"server CPU {w['cpu']:.0f}%; load average {w['load']:.1f} at its start"
    )


def _verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def report(settings: Settings, args: argparse.Namespace, run: dict[str, Any]) -> list[str]:
    """The Markdown block for bench/results.md (also printed), with the targets' verdicts."""
    c, sec = args.concurrency, args.seconds
    eta_what, vehicle_what = "`GET /eta?stop_id=<random busy stop>`", "`GET /vehicles/{id}`"
    lines = [
        f"## serve latency, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB",
        f"- read API (`transitstream.serve`, {settings.api.workers} uvicorn worker(s), pool "
        f"{settings.api.pool_size} and a read cache each) "
        f"on its own stack (ports {args.base}..{args.base + 99}); load generators and server "
        f"share the machine; load average {run['load_before'][0]:.2f} before, "
        f"{run['load_after'][0]:.2f} after",
        f"- read models: {args.vehicles} vehicles on real CARTA trips, {args.etas} ETAs each "
        f"({run['stops']} stops with arrivals; a board has {run['board_rows']} rows, "
        f"limit {settings.api.eta_limit})",
        "",
        f"HTTP, {c} concurrent requests (closed loop: each waits for its answer):",
    ]
    for name, what in (("eta", eta_what), ("vehicle", vehicle_what)):
        if f"{name}_wrk" in run:
            lines.append(_wrk_line(what, c, sec, run[f"{name}_wrk"]))
            lines.append(_wrk_line(what, c, sec, run[f"{name}_paced"], args.paced))
        lines.append(_py_line(what, c, sec, run[f"{name}_py"]))
        cost = run[f"{name}_in_process"]
        lines.append(
            f"- {what}, the app alone in-process (one ASGI call per request, no sockets, no "
            f"HTTP parsing): {cost['hit_us']:.0f} us per request from the cache = "
            f"{1e6 / cost['hit_us']:,.0f} requests/s per core; {cost['miss_us']:.0f} us with the "
            "cache off (a Postgres read each)"
        )
    lines.append(_py_line(f"{eta_what} one at a time (the floor)", 1, sec / 2, run["eta_one"]))
    lines += [
        "",
        f"WebSocket fan-out: {args.moving} vehicles move every {settings.api.push_interval_s} s "
        f"(rows written and NOTIFY at commit, as a projector does); each client subscribes to one "
        f"route (round robin over {run['routes_moving']} routes), the clients spread over "
        f"{args.client_procs} client processes; push lag = receive time - event "
        "time (includes the writer's commit and the client processes' own loop delay); server <= "
        "0.5 s = share of states the server sent within 0.5 s of their event time (its histogram):",
        "",
        "| clients | connect s | states delivered | delivered / expected | states/s | push lag "
        "p50 / p99 / max ms | server <= 0.5 s | client loop delay p99 ms | server CPU % |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in run["fanouts"]:
        lags = [x * 1000 for x in f["lags"]] or [float("nan")]
        loop = [x * 1000 for x in f["loop_delays"]] or [float("nan")]
        b = f["server_buckets"]
        within = b.get("0.5", 0) / b["+Inf"] if b.get("+Inf") else float("nan")
        lines.append(
            f"| {f['clients']:,} | {f['connect_s']:.1f} | {f['received']:,} | "
            f"{f['received'] / max(f['expected'], 1):.2f} | {f['received'] / f['seconds']:,.0f} "
            f"| {statistics.median(lags):.0f} / {pct(lags, 99):.0f} / {max(lags):.0f} | "
            f"{within:.1%} | {pct(loop, 99):.0f} | {f['cpu']:.0f} |"
        )
    lines += ["", "targets (issue #6):"]
    source = "wrk" if "eta_wrk" in run else "py"
    for name, what in (("eta", eta_what), ("vehicle", vehicle_what)):
        if source == "wrk":  # judged at the target rate (paced), not at saturation
            rate, p99 = run[f"{name}_paced"]["rate"], run[f"{name}_paced"]["p99_ms"]
            how = f"wrk paced to about {args.paced:,.0f}/s"
            capacity = f"; closed loop {run[f'{name}_wrk']['rate']:,.0f} requests/s"
        else:
            rate, lat, _ = run[f"{name}_py"]
            p99 = pct([x * 1000 for x in lat], 99)
            how, capacity = "Python client", ""
        met = rate >= 0.95 * TARGET_RATE and p99 < TARGET_P99_MS
        lines.append(
            f"- {what}: p99 < {TARGET_P99_MS:.0f} ms at {TARGET_RATE:,.0f} requests/s: "
            f"{_verdict(met)} ({how}: {rate:,.0f} requests/s, p99 {p99:.1f} ms{capacity})"
        )
    big = max(run["fanouts"], key=lambda f: f["clients"])
    lag99 = pct([x * 1000 for x in big["lags"]] or [float("nan")], 99)
    met = big["clients"] >= TARGET_CLIENTS and lag99 < TARGET_LAG_MS
    lines += [
        f"- push lag p99 < {TARGET_LAG_MS:.0f} ms with {TARGET_CLIENTS:,} clients: "
        f"{_verdict(met)} ({big['clients']:,} clients: p99 {lag99:.0f} ms)",
        "",
    ]
    return lines


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
