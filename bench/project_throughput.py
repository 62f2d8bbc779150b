"""Projector throughput: read-model writes per second, batch commit latency, and rebuild rate.

Milestone 3's benchmark (issue 5). It brings up a stack of its own (ports base+00..base+99,
30000 by default, below the ephemeral port range; never the default stack nor a test stack)
and uses records shaped like the stream job's output: per fix, one `vehicle.enriched.v1` record
and ~30 `stop.eta.v1` records (every stop ahead: what the Spark job wrote before it sent ETAs only
on change, and still writes with `eta_change_min_s` and `eta_change_ratio` at 0; now ~3 per fix,
so this is the projector's worst case), a fix every 10 s per vehicle, event times at wall-clock
now.

1. write paths, same rows, same batches (`batch_max`), straight into Postgres (no Kafka):
   `copy` (coalesce, COPY into a temp table, one INSERT ... SELECT ... ON CONFLICT), the chosen
   one; `executemany` (coalesce, the same upsert per row, pipelined); `naive` (one statement per
   event, each waiting for its reply, no coalescing);
2. catch-up: N records preloaded in the topics, `project.run.run(stop_at_end=True)`: records/s
   and per-batch commit latency (upserts + offsets, one transaction) p50/p99;
3. sustained: a producer thread feeds R records/s (pre-serialized) for D seconds while the
   projector runs live; processed rate, batch p50/p99, lag when the feed stops and drain time;
4. rebuild: `project.rebuild.rebuild` from offset 0 into shadow tables and the swap: records/s.

    .venv/bin/python bench/project_throughput.py          # ~3 minutes on 2 cores
    .venv/bin/python bench/project_throughput.py --events 100000 --rate 5000 --duration 20

Figures are printed and appended to bench/results.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Producer
from confluent_kafka.serialization import MessageField, SerializationContext

from transitstream import schemas
from transitstream.config import Settings, project_root
from transitstream.db.migrate import connect
from transitstream.infra import stack
from transitstream.infra.port_block import port_block_env, settings_of
from transitstream.project import writer
from transitstream.project.batch import Batch
from transitstream.project.rebuild import rebuild
from transitstream.project.run import run
from transitstream.project.tables import ETAS, VEHICLES
from transitstream.topic_reader import end_offsets

RESULTS = Path(__file__).parent / "results.md"
Item = tuple[str, bytes, dict[str, Any]]  # (topic, key, record)


def fleet(
    settings: Settings, n: int, vehicles: int, etas_per_fix: int, start: datetime
) -> list[Item]:
    """n records in log order: each tick every vehicle reports once, with its ETAs."""
    out: list[Item] = []
    tick = 0
    while len(out) < n:
        t = start + timedelta(seconds=10 * tick)
        for v in range(vehicles):
            vid, trip, seq = f"bp-{v:05d}", f"trip-{v}", 2 + tick % 20
            out.append((settings.topics.enriched, vid.encode(), {
                "event_id": f"{vid}-{tick}", "vehicle_id": vid, "trip_id": trip,
                "route_id": f"R{v % 12}", "route_name": str(v % 12), "lat": 35.0 + v / 1e4,
                "lon": -85.3 + tick / 1e4,
                "bearing": 90.0, "speed": 7.5, "event_time": t, "distance_along_m": 250.0 * tick,
                "offset_m": 2.5, "next_stop_id": f"S{seq}", "next_stop_sequence": seq,
                "schedule_deviation_s": 45,
            }))  # fmt: skip
            for k in range(etas_per_fix):
                out.append((settings.topics.eta, f"S{seq + k}".encode(), {
                    "stop_id": f"S{seq + k}", "stop_sequence": seq + k, "vehicle_id": vid,
                    "trip_id": trip, "route_id": f"R{v % 12}",
                    "predicted_time": t + timedelta(seconds=600 + 90 * k), "prediction_time": t,
                    "horizon_s": 600 + 90 * k, "scheduled_time": None, "model": "segments-v1",
                }))  # fmt: skip
        tick += 1
    return out[:n]


def reset(settings: Settings) -> None:
    with connect(settings) as conn:
        conn.execute("TRUNCATE vehicle_state, stop_eta, vehicle_anomaly")
        conn.execute("DELETE FROM projector_offsets")


def bench_path(
    settings: Settings, items: list[Item], path: writer.WritePath, batch_max: int
) -> tuple[float, list[float]]:
    """records/s and per-batch seconds of one write path over `items` (already decoded)."""
    reset(settings)
    table_of = {settings.topics.enriched: VEHICLES, settings.topics.eta: ETAS}
    seconds: list[float] = []
    with connect(settings) as conn:
        conn.autocommit = True
        started = time.perf_counter()
        for i in range(0, len(items), batch_max):
            t0 = time.perf_counter()
            chunk = items[i : i + batch_max]
            if path == "naive":  # one statement per event: no coalescing
                tables = [(table_of[topic], [table_of[topic].to_row(v)]) for topic, _, v in chunk]
                with conn.transaction(), conn.cursor() as cur:
                    for table, rows in tables:
                        writer.upsert_rows(cur, table, rows, table.name, "naive")
            else:
                batch = Batch()
                for topic, _, v in chunk:
                    batch.add(table_of[topic], v, topic, 0, i)
                tables = [(batch.tables[n], r) for n, r in batch.row_lists().items()]
                writer.write_batch(conn, tables, batch.offsets, path=path)
            seconds.append(time.perf_counter() - t0)
        return len(items) / (time.perf_counter() - started), seconds


def serialized(settings: Settings, items: list[Item]) -> list[tuple[str, bytes, bytes | None]]:
    client = schemas.registry_client(settings)
    schemas.register_all(client, settings)
    sers = {t: schemas.serializer(client, settings, t) for t in {i[0] for i in items}}
    return [(t, k, sers[t](v, SerializationContext(t, MessageField.VALUE))) for t, k, v in items]


def produce(
    settings: Settings, data: list[tuple[str, bytes, bytes | None]], rate: float | None = None
) -> float:
    """Transactions of 1,000 records (as the stream job's batches); at `rate` records/s if set."""
    p = Producer(settings.kafka_config(**{
        "transactional.id": f"bench-project-{time.time_ns()}", "linger.ms": 5,
        "compression.type": "lz4", "queue.buffering.max.messages": 500_000,
    }))  # fmt: skip
    p.init_transactions(30)
    started = time.perf_counter()
    for i in range(0, len(data), 1000):
        if rate:
            wait = started + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        p.begin_transaction()
        for topic, key, value in data[i : i + 1000]:
            p.produce(topic, key=key, value=value)
        p.commit_transaction(30)
    return len(data) / (time.perf_counter() - started)


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=int, default=30000, help="port block of the bench stack")
    parser.add_argument("--events", type=int, default=200_000, help="records for catch-up")
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--etas-per-fix", type=int, default=30)
    parser.add_argument("--naive-events", type=int, default=30_000, help="naive path: fewer")
    parser.add_argument("--rate", type=float, default=10_000, help="sustained feed, records/s")
    parser.add_argument("--duration", type=float, default=30.0, help="sustained feed, seconds")
    parser.add_argument("--keep", action="store_true", help="leave the bench stack running")
    args = parser.parse_args()

    state = project_root() / ".transitstream" / "bench-project"
    settings = settings_of(port_block_env(state / "state", args.base))
    stack.down(settings)  # a stack left by --keep: stopped before its folder goes
    shutil.rmtree(state, ignore_errors=True)
    print(f"bench stack on ports {args.base}..{args.base + 99} ...")
    stack.up(settings)
    lines: list[str] = []

    def say(line: str) -> None:
        print(line)
        lines.append(line)

    try:
        s, cfg = settings, settings.project
        start = datetime.now(UTC)
        items = fleet(s, args.events, args.vehicles, args.etas_per_fix, start)
        mem = psutil.virtual_memory().total / 2**30
        say(
            f"- {len(items):,} records: {args.vehicles} vehicles, a fix every 10 s, "
            f"{args.etas_per_fix} ETAs per fix; batch_max {cfg.batch_max}, "
            f"batch_timeout {cfg.batch_timeout_s} s"
        )
        say(
            f"- {os.cpu_count()} cores, {mem:.0f} GB; own stack on {args.base}..{args.base + 99};"
            f" load average before {' / '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )

        say("\nwrite paths, same decoded records, same batches, into Postgres (no Kafka):\n")
        say("| path | records | records/s | batch p50 / p99 ms |")
        say("|---|---:|---:|---:|")
        rates: dict[str, float] = {}
        paths: list[tuple[writer.WritePath, int]] = [
            ("copy", len(items)),
            ("executemany", len(items)),
            ("naive", args.naive_events),
        ]
        for path, n in paths:
            rate, secs = bench_path(s, items[:n], path, cfg.batch_max)
            rates[path] = rate
            say(f"| {path} | {n:,} | {rate:,.0f} | {ms(secs, 50)} / {ms(secs, 99)} |")
        say(
            f"\n- ratio copy / naive: {rates['copy'] / rates['naive']:.1f}x; "
            f"copy / executemany: {rates['copy'] / rates['executemany']:.2f}x"
        )
        chosen = max(("copy", "executemany"), key=lambda p: rates[p])
        say(
            f"- faster batched path here: **{chosen}** "
            f"(`writer.WRITE_PATH` = `{writer.WRITE_PATH}`)"
        )

        reset(s)
        data = serialized(s, items)
        fed = produce(s, data)
        t0 = time.perf_counter()
        result = run(s, "all", stop_at_end=True)
        wall = time.perf_counter() - t0
        b = result.batch_seconds
        say(
            f"\ncatch-up: {len(data):,} records preloaded ({fed:,.0f} records/s produced), "
            "then `run(stop_at_end=True)`:"
        )
        say(
            f"- {result.records:,} records in {wall:.1f} s = **{result.records / wall:,.0f} "
            f"records/s** end to end (consume, Avro decode, coalesce, write), "
            f"{result.batches} batches"
        )
        say(
            f"- batch commit (upserts + offsets, one transaction): p50 {ms(b, 50)} ms, "
            f"p99 {ms(b, 99)} ms, max {max(b) * 1000:.0f} ms"
        )

        # sustained: the projector live, a producer at `rate`
        total = int(args.rate * args.duration) + len(items)
        fresh = fleet(s, total, args.vehicles, args.etas_per_fix, start)
        more = serialized(s, fresh[len(items) :])
        stop = threading.Event()
        box: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: box.update(r=run(s, "all", stop=stop)))
        worker.start()
        time.sleep(3)  # joined the group, caught up, idle
        t0 = time.perf_counter()
        fed = produce(s, more, rate=args.rate)
        feed_s = time.perf_counter() - t0
        end = log_end(s)
        behind = end - stored(s)
        t1 = time.perf_counter()
        while stored(s) < end and time.perf_counter() - t1 < 120:
            time.sleep(0.05)
        drained = time.perf_counter() - t1
        stop.set()
        worker.join(60)
        r2 = box["r"]
        b2 = r2.batch_seconds
        say(f"\nsustained: {fed:,.0f} records/s fed for {feed_s:.0f} s, the projector live:")
        say(
            f"- processed {r2.records:,} records in {r2.batches} batches "
            f"({r2.records / max(r2.batches, 1):,.0f} records/batch)"
        )
        say(f"- batch commit p50 {ms(b2, 50)} ms, p99 {ms(b2, 99)} ms, max {max(b2) * 1000:.0f} ms")
        say(
            f"- offsets behind the log end as the feed stopped: {behind:,}; drained {drained:.2f} s"
        )
        keeps = drained < 2 * cfg.batch_timeout_s + 2 and pct(b2, 99) < 0.2
        say(
            f"- keeps up with {args.rate:,.0f} records/s, batch p99 under 200 ms: "
            f"**{'yes' if keeps else 'no'}**"
        )

        rb = rebuild(s, show_progress=False)
        say(
            f"\nrebuild from offset 0 ({rb.records:,} records) into shadow tables + swap: "
            f"{rb.seconds:.1f} s = **{rb.rate:,.0f} records/s**"
        )
    finally:
        if not args.keep:
            stack.down(settings)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with RESULTS.open("a") as f:
        f.write(f"\n## project throughput, {stamp}, {platform.node()}\n" + "\n".join(lines) + "\n")
    print(f"appended to {RESULTS}")


def stored(settings: Settings) -> int:
    with connect(settings) as conn:
        row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM projector_offsets").fetchone()
    return int(row[0]) if row else 0


def log_end(settings: Settings) -> int:
    """Sum of the end offsets of the projected topics (as a read_committed reader sees them)."""
    t = settings.topics
    return sum(end_offsets(settings, t.enriched, t.eta, t.anomaly).values())


if __name__ == "__main__":
    main()
