"""Ingest throughput: events/s through `POST /v1/positions/batch` into Kafka, next to the raw
confluent-kafka transactional producer rate for the same records, in the same run.

Run against a live stack and ingestor (e.g. after `make demo`, or `transitstream infra up` and
`transitstream ingest serve`):

    .venv/bin/python bench/ingest_throughput.py --events 100000 --batch 500 --clients 4

Figures are printed and appended to bench/results.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
from confluent_kafka import Producer
from confluent_kafka.serialization import MessageField, SerializationContext

from transitstream import schemas
from transitstream.config import get_settings
from transitstream.ingest.producer import TransactionalPool
from transitstream.ingest.service import Ingestor, Received
from transitstream.ingest.validate import validate_event

RESULTS = Path(__file__).parent / "results.md"


def fleet_events(n: int, vehicles: int) -> list[dict[str, object]]:
    """n fixes of a fleet reporting once a second, timestamps just behind now."""
    start = int(time.time() * 1000) - n // vehicles * 1000 - 5_000
    return [
        {
            "vehicle_id": f"bench-{i % vehicles:05d}",
            "lat": 35.0 + (i % 997) * 1e-4,
            "lon": -85.3 - (i % 991) * 1e-4,
            "ts": start + (i // vehicles) * 1000,
            "speed": 8.0,
            "bearing": 90.0,
            "accuracy": 5.0,
        }
        for i in range(n)
    ]


def bench_http(
    events: list[dict[str, object]], batch: int, clients: int
) -> tuple[float, list[float]]:
    s = get_settings()
    token = sorted(s.ingest.token_set())[0]
    batches = [events[i : i + batch] for i in range(0, len(events), batch)]
    latencies: list[float] = []

    def post_all(part: list[list[dict[str, object]]]) -> None:
        with httpx.Client(
            base_url=s.ingest.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as c:
            for b in part:
                t0 = time.perf_counter()
                r = c.post("/v1/positions/batch", json=b)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 202 or r.json()["accepted"] != len(b):
                    raise RuntimeError(f"batch not fully accepted: {r.status_code} {r.text[:200]}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post_all, [batches[i::clients] for i in range(clients)]))
    return len(events) / (time.perf_counter() - t0), latencies


def bench_producer(events: list[dict[str, object]]) -> float:
    """The raw confluent-kafka rate: the same records pre-serialized, one idempotent producer,
    no validation, no transactions, no HTTP. The ceiling of the client library itself."""
    s = get_settings()
    client = schemas.registry_client(s)
    schemas.register_all(client, s)
    serialize = schemas.serializer(client, s, s.topics.position)
    ctx = SerializationContext(s.topics.position, MessageField.VALUE)
    now = int(time.time() * 1000)
    values = []
    for e in events:
        record, _ = validate_event(e, now, s.ingest)
        assert record is not None
        values.append((str(e["vehicle_id"]).encode(), serialize(record, ctx)))
    producer = Producer(
        s.kafka_config(**{"enable.idempotence": True, "acks": "all", "linger.ms": 5})
    )
    t0 = time.perf_counter()
    for key, value in values:
        while True:
            try:
                producer.produce(s.topics.position, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    return len(events) / (time.perf_counter() - t0)


def bench_in_process(events: list[dict[str, object]], batch: int) -> float:
    """The ingestor's own request path (validate, Avro, one transaction per batch) minus HTTP."""
    s = get_settings()
    pool = TransactionalPool(s)
    ingestor = Ingestor(s, pool)
    t0 = time.perf_counter()
    for i in range(0, len(events), batch):
        received = Received(b"", "application/json", int(time.time() * 1000))
        outcome = ingestor.ingest(events[i : i + batch], received, batch=True)
        assert outcome.rejected == 0
    rate = len(events) / (time.perf_counter() - t0)
    pool.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--vehicles", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="events per request/transaction")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    args = parser.parse_args()

    events = fleet_events(args.events, args.vehicles)
    raw = bench_producer(events)
    in_process = bench_in_process(fleet_events(args.events, args.vehicles), args.batch)
    http, lat = bench_http(fleet_events(args.events, args.vehicles), args.batch, args.clients)
    lat_ms = sorted(x * 1000 for x in lat)
    p50 = statistics.median(lat_ms)
    p99 = lat_ms[int(len(lat_ms) * 0.99) - 1] if len(lat_ms) > 1 else lat_ms[0]
    lines = [
        f"## ingest throughput, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}",
        f"- {args.events} events, batches of {args.batch}, {args.clients} HTTP clients",
        f"- raw confluent-kafka producer, pre-serialized records: {raw:,.0f} events/s",
        f"- ingestor request path in-process (validate, Avro, transaction): "
        f"{in_process:,.0f} events/s",
        f"- through POST /v1/positions/batch: {http:,.0f} events/s "
        f"(request p50 {p50:.1f} ms, p99 {p99:.1f} ms)",
        f"- ratio HTTP / raw: {http / raw:.2f}",
        "- target: 10,000 events/s on one core",
        "",
    ]
    print("\n".join(lines))
    with RESULTS.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
