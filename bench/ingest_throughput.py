"""Ingest throughput: events/s through `POST /v1/positions/batch` into Kafka, next to the raw
confluent-kafka transactional producer rate for the same records, in the same run.

Run against a live stack and ingestor (e.g. after `make demo`, or `transitstream infra up` and
`transitstream ingest serve`):

    .venv/bin/python bench/ingest_throughput.py --events 100000 --batch 500 --clients 4

The issue's target is 10,000 events/s *on one core*. `--ingestor-cpu N` measures exactly that:
the benchmark starts an ingestor of its own (on Settings' ingest port, which must be free) with
every thread of it confined to CPU N (started under `taskset -c N`, so librdkafka's threads
inherit the mask), puts its own load generator on the other CPUs, and reports how much of its
core the ingestor used. The in-process figure is then also measured on CPU N alone. Kafka, the
registry and the rest of the stack are not pinned.

    .venv/bin/python bench/ingest_throughput.py --ingestor-cpu 0

Figures are printed and appended to bench/results.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
from confluent_kafka import Producer
from confluent_kafka.serialization import MessageField, SerializationContext

from transitstream import schemas
from transitstream.config import Settings, get_settings, to_env
from transitstream.infra.process import port_owner, wait_until
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


def warm_up_batches(n: int) -> list[list[dict[str, object]]]:
    """n small batches of their own vehicles, enough to start every pooled producer."""
    now = int(time.time() * 1000) - 1000
    return [[{"vehicle_id": f"warm-{i}", "lat": 35.0, "lon": -85.3, "ts": now}] for i in range(n)]


def pin(pid: int, cpus: set[int]) -> None:
    """Confine every thread of process `pid` to `cpus`. sched_setaffinity(pid) moves only the
    thread whose id is `pid`; threads started later inherit their creator's mask."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task.name), cpus)


def thread_cpus(pid: int) -> set[int]:
    """The CPUs any thread of `pid` may run on: proof the whole process was confined."""
    cpus: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            cpus |= os.sched_getaffinity(int(task.name))
    return cpus


@contextmanager
def own_ingestor(s: Settings, cpu: int) -> Iterator[psutil.Process]:
    """An ingestor for this run, all of it on `cpu` from its first instruction (taskset's exec
    keeps the pid, so the process yielded is the ingestor itself)."""
    owner = port_owner(s.ingest.host, s.ingest.port)
    if owner:
        raise SystemExit(
            f"port {s.ingest.port} is taken by {owner}: stop that ingestor, or run without "
            "--ingestor-cpu to measure it as it runs"
        )
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SystemExit("--ingestor-cpu needs taskset (util-linux): apt-get install util-linux")
    # taskset sets the mask, then execs Python: every thread is born on `cpu`. (preexec_fn would
    # run Python between fork and exec, which is unsafe while this process has threads.)
    argv = [taskset, "-c", str(cpu), sys.executable, "-m", "transitstream.ingest"]
    proc = subprocess.Popen([*argv, "--log-level", "warning"], env={**os.environ, **to_env(s)})
    try:
        url = f"{s.ingest.url}/healthz"
        if not wait_until(lambda: httpx.get(url, timeout=3).status_code == 200, 60):
            raise SystemExit(f"the benchmark's ingestor did not answer {url} within 60 s")
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()  # not left running on the port the next run needs
            proc.wait(10)


def bench_http(
    events: list[dict[str, object]], batch: int, clients: int
) -> tuple[float, list[float]]:
    s = get_settings()
    token = sorted(s.ingest.token_set())[0]
    # Bodies encoded up front: the load generator's cost should not be what is measured.
    bodies = [
        (len(events[i : i + batch]), json.dumps(events[i : i + batch]).encode())
        for i in range(0, len(events), batch)
    ]
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post_all(part: list[tuple[int, bytes]]) -> None:
        with httpx.Client(base_url=s.ingest.url, headers=headers, timeout=60) as c:
            for n, body in part:
                t0 = time.perf_counter()
                r = c.post("/v1/positions/batch", content=body)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 202 or r.json()["accepted"] != n:
                    raise RuntimeError(f"batch not fully accepted: {r.status_code} {r.text[:200]}")

    # Warm-up, not timed: each pooled producer's first transaction runs init_transactions. The
    # pool hands producers out first in, first out, so one request per producer reaches them all
    # (with --clients 1, `clients` requests would leave the other producers' starts in the run).
    warmups = max(clients, s.ingest.producers)
    warm = [(len(w), json.dumps(w).encode()) for w in warm_up_batches(warmups)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post_all, [[w] for w in warm]))
    latencies.clear()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post_all, [bodies[i::clients] for i in range(clients)]))
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
    for warm in warm_up_batches(s.ingest.producers):  # not timed: init_transactions per slot
        ingestor.ingest(warm, Received(b"", "application/json", int(time.time() * 1000)), True)
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
    parser.add_argument(
        "--ingestor-cpu",
        type=int,
        help="start an ingestor of our own confined to this CPU; the load generator gets the rest",
    )
    args = parser.parse_args()
    cpu = args.ingestor_cpu
    all_cpus = os.sched_getaffinity(0)
    if cpu is not None and (cpu not in all_cpus or len(all_cpus) < 2):
        parser.error(f"--ingestor-cpu needs one of {sorted(all_cpus)} and another CPU left over")
    others = all_cpus - {cpu} if cpu is not None else all_cpus

    events = fleet_events(args.events, args.vehicles)
    raw = bench_producer(events)
    if cpu is not None:
        pin(os.getpid(), {cpu})  # the request path alone on the ingestor's one core
    in_process = bench_in_process(fleet_events(args.events, args.vehicles), args.batch)
    pin(os.getpid(), others)
    load = [os.getloadavg()[0]]
    if cpu is None:
        http, lat = bench_http(fleet_events(args.events, args.vehicles), args.batch, args.clients)
        cores = ""
    else:
        with own_ingestor(get_settings(), cpu) as ingestor:
            before, w0 = ingestor.cpu_times(), time.perf_counter()
            http, lat = bench_http(
                fleet_events(args.events, args.vehicles), args.batch, args.clients
            )
            after, wall = ingestor.cpu_times(), time.perf_counter() - w0
            used = (after.user + after.system - before.user - before.system) / wall
            mask = sorted(thread_cpus(ingestor.pid))
        cores = (
            f" (ingestor confined to CPU {cpu}, its threads' affinity {mask}; "
            f"it used {used:.0%} of that core; load generator on CPU {sorted(others)})"
        )
    load.append(os.getloadavg()[0])
    lat_ms = sorted(x * 1000 for x in lat)
    p50 = statistics.median(lat_ms)
    p99 = lat_ms[int(len(lat_ms) * 0.99) - 1] if len(lat_ms) > 1 else lat_ms[0]
    where = f"on CPU {cpu} only" if cpu is not None else "unpinned"
    met = "met" if cpu is not None and http >= 10_000 else "not met"
    verdict = (
        f"**{met}** ({http:,.0f} events/s with the ingestor on one core)"
        if cpu is not None
        else "not measured on one core here (rerun with --ingestor-cpu N)"
    )
    lines = [
        f"## ingest throughput, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores",
        f"- {args.events} events, batches of {args.batch}, {args.clients} HTTP clients "
        f"(bodies encoded up front); load average {load[0]:.2f} before the HTTP run, "
        f"{load[1]:.2f} after",
        f"- raw confluent-kafka producer, pre-serialized records (unpinned): {raw:,.0f} events/s",
        f"- ingestor request path in-process (validate, Avro, transaction; one batch at a "
        f"time, each waiting for its commit), {where}: "
        f"{in_process:,.0f} events/s",
        f"- through POST /v1/positions/batch: {http:,.0f} events/s "
        f"(request p50 {p50:.1f} ms, p99 {p99:.1f} ms){cores}",
        f"- ratio HTTP / raw: {http / raw:.2f}",
        f"- target 10,000 events/s ingested on one core: {verdict}",
        "",
    ]
    print("\n".join(lines))
    with RESULTS.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
