"""Stream throughput: the events/s the stream job keeps up with, and its batch duration there.

Milestone 2's benchmark (issue 4). It brings up a stack of its own (ports base+00..base+99,
28000 by default; never the default stack on 9092... nor the test stack on 18092...), fills
`vehicle.position.v1` with positions of a large simulated fleet (validated and Avro-serialized
exactly as the ingestor does, no HTTP) and runs the real job (`stream.run.run_job`, job `all`):

1. per-event cost, one core, no Spark: the job's Python work per position (map matching, ETAs,
   anomalies in `RouteBrain`) and the driver's Avro serialization of its output rows;
2. catch-up: N events preloaded, the job run with `available_now=True` at several
   maxOffsetsPerTrigger sizes: rows/s and per-batch duration (p50/p90/max of `batchDuration`);
3. floor: the same catch-up in small batches, with the per-route function swapped for one that
   does nothing (keeps its state, returns no rows): what a micro-batch costs before any work;
4. sustained: a producer thread feeds a fixed rate R for D seconds while the job runs with its
   normal trigger (`Settings.spark.trigger_s`); input vs processing rate, batch duration, and
   whether the lag (topic end minus the last batch's end offsets) stayed bounded. Rates go up
   until one falls behind (the higher ones are then skipped, unless --all-rates); the highest R
   that keeps up is the headline figure.

    .venv/bin/python bench/stream_throughput.py                  # 8-10 minutes on 2 cores
    .venv/bin/python bench/stream_throughput.py --preload 50000 --rates 1000,2000 --duration 30

Figures are printed and appended to bench/results.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.serialization import MessageField, SerializationContext
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from transitstream import schemas
from transitstream.config import Settings
from transitstream.gtfs import Feed, load_feed
from transitstream.infra import stack
from transitstream.infra.port_block import port_block_env, settings_of
from transitstream.infra.process import running_process, stop
from transitstream.ingest.producer import TransactionalPool, producer_config
from transitstream.ingest.service import Ingestor, Received
from transitstream.ingest.validate import validate_event
from transitstream.predict import Catalog
from transitstream.simulate.generate import Simulation
from transitstream.simulate.params import SimParams
from transitstream.stream import jobs
from transitstream.stream.brain import RouteBrain
from transitstream.stream.encode import encode_value, output_schemas
from transitstream.stream.run import query_name, run_job
from transitstream.stream.session import shuffle_partitions, spark_session
from transitstream.stream.sink import ExactlyOnceSink, TopicRecords
from transitstream.topic_reader import end_offsets

RESULTS = Path(__file__).parent / "results.md"
JOB = "all"
START_S = 7 * 3600.0  # 07:00: the morning peak, every replica vehicle in service


def bench_settings(state_dir: Path, base: int) -> Settings:
    """The Settings of a stack in `state_dir` on ports base+00..base+99."""
    return settings_of(port_block_env(state_dir, base))


def fresh_checkpoints(settings: Settings, run: str, **update: Any) -> Settings:
    """Settings whose job starts from scratch (earliest offsets, empty state), even on a kept
    stack that ran this bench before."""
    root = settings.state_dir / "bench-checkpoints" / run
    shutil.rmtree(root, ignore_errors=True)
    return settings.with_spark(checkpoint_root=root, **update)


# -- input ------------------------------------------------------------------------------------


def fleet_events(feed: Feed, vehicles: int, n: int, report_every_s: float, seed: int) -> list[Any]:
    """The first n positions of a simulated fleet from 07:00 on (detours, stalls and GPS jumps
    as the simulator injects them; no bad events: every one is accepted)."""
    span_s = n * report_every_s / vehicles * 1.3  # not every vehicle reports in every tick
    while True:
        params = SimParams(
            vehicles=vehicles,
            replicate=True,
            speedup=1.0,
            duration_s=span_s,
            report_every_s=report_every_s,
            start_s=START_S,
            seed=seed,
            realtime=False,
            bad_rate=0.0,
            not_json_rate=0.0,
        )
        out: list[Any] = []
        for tick in Simulation.build(feed, params).ticks():
            out += tick.items
            if len(out) >= n:
                return out[:n]
        span_s *= 1.5


def serialized(settings: Settings, events: list[Any]) -> list[tuple[bytes, bytes]]:
    """(key, value) as the ingestor writes them: `validate_event`, then the Avro serializer."""
    client = schemas.registry_client(settings)
    serialize = schemas.serializer(client, settings, settings.topics.position)
    ctx = SerializationContext(settings.topics.position, MessageField.VALUE)
    now = int(time.time() * 1000)
    out = []
    for e in events:
        record, rejection = validate_event(e, now, settings.ingest)
        if record is None:
            raise RuntimeError(f"the ingestor would reject a simulated event: {rejection}")
        value = serialize(record, ctx)
        assert value is not None
        out.append((record["vehicle_id"].encode(), value))
    return out


def ingest(settings: Settings, events: list[Any], batch: int = 500) -> float:
    """Through the ingestor's request path in-process: one transaction per batch. events/s."""
    pool = TransactionalPool(settings)
    ingestor = Ingestor(settings, pool)
    t0 = time.perf_counter()
    for i in range(0, len(events), batch):
        received = Received(b"", "application/json", int(time.time() * 1000))
        outcome = ingestor.ingest(events[i : i + batch], received, batch=True)
        if outcome.rejected:
            raise RuntimeError(f"ingestor rejected simulated events: {outcome.errors[:3]}")
    rate = len(events) / (time.perf_counter() - t0)
    pool.close()
    return rate


# -- topics -----------------------------------------------------------------------------------


def truncate(settings: Settings, *topics: str) -> None:
    """Delete every record of these topics (the bench stack's own): each run starts empty."""
    admin = AdminClient(settings.kafka_config())
    meta = admin.list_topics(timeout=10).topics
    tps = [TopicPartition(t, p, OFFSET_END) for t in topics for p in meta[t].partitions]
    for fut in admin.delete_records(tps, operation_timeout=30).values():
        fut.result()


def output_topics(settings: Settings) -> list[str]:
    t = settings.topics
    return [t.enriched, t.eta, t.anomaly, t.position_dlq]


# -- progress ---------------------------------------------------------------------------------


class ProgressLog(StreamingQueryListener):
    """Every progress event of the session's queries (recentProgress keeps only the last 100)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.progress: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self._lock:
            self.progress = []

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.progress)

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryProgress(self, event: Any) -> None:
        p = json.loads(event.progress.json)
        p["_end"] = start_of(p) + duration_s(p)
        with self._lock:
            self.progress.append(p)

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass

    def wait_for(self, batches: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        """Listener events arrive after the batch: wait until `batches` are in (or timeout)."""
        deadline = time.monotonic() + timeout_s
        while len(self.snapshot()) < batches and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.snapshot()


def start_of(p: dict[str, Any]) -> float:
    return datetime.fromisoformat(p["timestamp"]).timestamp()


def duration_s(p: dict[str, Any]) -> float:
    ms = p.get("batchDuration") or p["durationMs"].get("triggerExecution", 0)
    return float(ms) / 1000.0


def offsets_sum(p: dict[str, Any], key: str) -> int:
    total = 0
    for source in p["sources"]:
        offsets = source.get(key) or {}
        if isinstance(offsets, str):  # Spark gives a source's offsets as JSON when it can
            offsets = json.loads(offsets)
        total += sum(int(off) for parts in offsets.values() for off in parts.values())
    return total


def behind(p: dict[str, Any]) -> float:
    return max(
        (float((s.get("metrics") or {}).get("maxOffsetsBehindLatest") or 0) for s in p["sources"]),
        default=0.0,
    )


def late_rows(progress: list[dict[str, Any]]) -> int:
    return sum(
        int(op.get("numRowsDroppedByWatermark", 0)) for p in progress for op in p["stateOperators"]
    )


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- the runs ---------------------------------------------------------------------------------


@dataclass
class CatchUp:
    max_offsets: int
    batches: int
    rows: int
    wall_s: float
    durations: list[float]
    sizes: list[int]  # rows per batch
    add_batch_share: float
    late: int
    written: dict[str, int]

    @property
    def rate(self) -> float:
        return self.rows / self.wall_s if self.wall_s else 0.0


@dataclass
class Sustained:
    target: int
    fed: int
    fed_rate: float
    steady_rate: float  # rows / span of the batches started in the feed's second half
    spark_input: float  # Spark's inputRowsPerSecond of those batches, row-weighted
    spark_processing: float  # Spark's processedRowsPerSecond (rows / batch duration), weighted
    batches: int  # started in the feed's second half
    durations: list[float]  # of those batches
    rows_per_batch: float  # mean, of those batches
    lag_end: int  # offsets not yet processed when the feed stopped
    lag_slope: float  # offsets/s, over the second half of the feed
    behind_max: float
    drain_s: float | None  # feed stop -> every fed event processed; None: not within the limit
    drain_limit_s: float
    late: int

    @property
    def keeps_up(self) -> bool:
        """In the second half of the feed the job processes what arrives (within 5%), and all of
        it is processed within a couple of batch cycles of the feed stopping: a job that falls
        behind has ever bigger batches and a backlog that grows with the run."""
        return (
            self.steady_rate >= 0.95 * self.fed_rate
            and self.drain_s is not None
            and self.drain_s <= self.drain_limit_s
        )


def run_catch_up(
    settings: Settings, log: ProgressLog, run: str, max_offsets: int, expected: int
) -> CatchUp:
    s = fresh_checkpoints(settings, run, max_offsets_per_trigger=max_offsets)
    log.reset()
    result = run_job(s, JOB, available_now=True, serve_metrics=False, stop_session=False)
    progress = [p for p in log.wait_for(result.batches) if p["numInputRows"]]
    rows = sum(int(p["numInputRows"]) for p in progress)
    if rows != expected:
        print(f"  note: read {rows} rows, {expected} were preloaded")
    wall = max(p["_end"] for p in progress) - min(start_of(p) for p in progress)
    add = sum(float(p["durationMs"].get("addBatch", 0)) for p in progress) / 1000
    durations = [duration_s(p) for p in progress]
    return CatchUp(
        max_offsets,
        len(progress),
        rows,
        wall,
        durations,
        [int(p["numInputRows"]) for p in progress],
        add / sum(durations) if durations else 0.0,
        late_rows(progress),
        result.rows_written,
    )


def idle_group_fn(
    gtfs_path: str, predict: Any, outputs: Any
) -> Callable[[Any, Any, Any], Iterator[pd.DataFrame]]:
    """`jobs.route_group_fn`'s stand-in for the floor: it reads its input and keeps its state,
    and does nothing else (no matching, no ETAs, no rows)."""

    def fn(key: Any, pdfs: Any, state: Any) -> Iterator[pd.DataFrame]:
        for _ in pdfs:
            pass
        state.update((state.get[0] if state.exists else "",))
        yield pd.DataFrame({"kind": [], "key": [], "value": []}, dtype=object)

    return fn


def run_floor(settings: Settings, log: ProgressLog, max_offsets: int, expected: int) -> CatchUp:
    """The catch-up with `idle_group_fn` in the job's place: Spark's own cost per micro-batch
    (planning, offset and commit logs, Kafka read, shuffle, Python tasks, state store, the
    foreachBatch transaction), which no work in the per-route function can go below."""
    real = jobs.route_group_fn
    jobs.route_group_fn = idle_group_fn
    try:
        return run_catch_up(settings, log, f"floor-{max_offsets}", max_offsets, expected)
    finally:
        jobs.route_group_fn = real


class Feeder(threading.Thread):
    """Produce pre-serialized positions at `rate` events/s, one transaction per 100 ms."""

    def __init__(self, settings: Settings, payloads: list[tuple[bytes, bytes]], rate: int) -> None:
        super().__init__(name="bench-feeder", daemon=True)
        self.settings, self.payloads, self.rate = settings, payloads, rate
        self.started = 0.0
        self.elapsed = 0.0
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._feed()
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _feed(self) -> None:
        topic = self.settings.topics.position
        config = producer_config(self.settings, 0)
        config["transactional.id"] = "transitstream-bench-feeder"
        producer = Producer(config)
        producer.init_transactions(30)
        self.started = time.time()
        t0 = time.monotonic()
        n = len(self.payloads)
        while self.sent < n:
            due = min(n, int((time.monotonic() - t0) * self.rate))
            if due > self.sent:
                producer.begin_transaction()
                for key, value in self.payloads[self.sent : due]:
                    while True:
                        try:
                            producer.produce(topic, key=key, value=value)
                            break
                        except BufferError:
                            producer.poll(0.01)
                    producer.poll(0)
                producer.commit_transaction(30)
                self.sent = due
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t0) % 0.1))
        self.elapsed = time.time() - self.started
        producer.flush(30)


class Watcher(threading.Thread):
    """Samples the lag (topic end minus the last completed batch's end offsets) twice a second;
    once the feed has stopped, waits until the job has processed all of it, then stops the query
    (as SIGTERM would: `run_job` returns normally). Gives up after `drain_limit` seconds."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        log: ProgressLog,
        feeder: Feeder,
        base: int,
        drain_limit: Callable[[], float],
    ) -> None:
        super().__init__(name="bench-watcher", daemon=True)
        self.spark, self.settings, self.log, self.feeder = spark, settings, log, feeder
        self.base, self.drain_limit = base, drain_limit
        self.samples: list[tuple[float, int]] = []
        self.final: int | None = None  # topic end offsets (sum) once the feed has stopped
        self.drained_at: float | None = None
        self.halt = threading.Event()

    def processed(self) -> tuple[int, float]:
        done = [p for p in self.log.snapshot() if p["numInputRows"]]
        return (offsets_sum(done[-1], "endOffset"), done[-1]["_end"]) if done else (self.base, 0)

    def run(self) -> None:
        topic = self.settings.topics.position
        consumer = Consumer(self.settings.kafka_config(**{"group.id": "bench-lag"}))
        parts = [TopicPartition(topic, p) for p in range(self.settings.topics.partitions)]
        try:
            while not self.halt.wait(0.5):
                latest = sum(consumer.get_watermark_offsets(tp, 5, False)[1] for tp in parts)
                processed, ended = self.processed()
                self.samples.append((time.time(), latest - processed))
                if self.feeder.error is not None:  # nothing to wait for
                    self.stop_query()
                    return
                if self.feeder.is_alive() or not self.feeder.started:
                    continue
                if self.final is None:
                    self.final = latest
                stopped = self.feeder.started + self.feeder.elapsed
                if processed >= self.final:
                    self.drained_at = ended
                elif time.time() - stopped <= self.drain_limit():
                    continue
                self.stop_query()
                return
        finally:
            consumer.close()

    def stop_query(self) -> None:
        for query in self.spark.streams.active:
            if query.name == query_name(JOB):
                query.stop()


def slope(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def run_sustained(
    spark: SparkSession,
    settings: Settings,
    log: ProgressLog,
    run: str,
    payloads: list[tuple[bytes, bytes]],
    rate: int,
    duration: float,
) -> Sustained:
    s = fresh_checkpoints(settings, run)
    truncate(s, s.topics.position, *output_topics(s))
    base = sum(end_offsets(s, s.topics.position).values())
    log.reset()
    half = [0.0]  # start of the feed's second half, once the feed has started

    def second_half_batches() -> list[dict[str, Any]]:
        return [p for p in log.snapshot() if p["numInputRows"] and start_of(p) >= half[0]]

    def drain_limit() -> float:
        """Two batch cycles (trigger + p90 batch duration) and 2 s, at least 10 s."""
        p90 = pct([duration_s(p) for p in second_half_batches()], 0.9)
        cycle = s.spark.trigger_s + (p90 if p90 == p90 else s.spark.trigger_s)
        return max(10.0, 2 * cycle + 2)

    feeder = Feeder(s, payloads, rate)
    watcher = Watcher(spark, s, log, feeder, base, drain_limit)
    feeder.start()
    watcher.start()
    while not feeder.started and feeder.is_alive():
        time.sleep(0.05)
    half[0] = feeder.started + duration / 2
    # The job starts as the feed does; the watcher stops it once the feed is processed (or
    # given up on); the timeout is only a safety net.
    result = run_job(s, JOB, timeout_s=duration + 120, serve_metrics=False, stop_session=False)
    feeder.join()
    watcher.halt.set()
    watcher.join()
    if feeder.error is not None:
        raise RuntimeError(f"the feeder failed: {feeder.error}") from feeder.error
    t1 = feeder.started + feeder.elapsed
    progress = [p for p in log.wait_for(result.batches) if p["numInputRows"]]
    steady = [p for p in progress if half[0] <= start_of(p) <= t1]
    span = max((p["_end"] for p in steady), default=0.0) - min(map(start_of, steady), default=0.0)
    second_half = [(t, lag) for t, lag in watcher.samples if half[0] <= t <= t1]
    lags = [lag for t, lag in watcher.samples if t <= t1] or [0]
    rows = sum(int(p["numInputRows"]) for p in steady)
    busy = sum(duration_s(p) for p in steady)
    between = sum(
        int(p["numInputRows"]) / float(p["inputRowsPerSecond"])
        for p in steady
        if (p.get("inputRowsPerSecond") or 0) > 0
    )
    return Sustained(
        target=rate,
        fed=feeder.sent,
        fed_rate=feeder.sent / feeder.elapsed if feeder.elapsed else 0.0,
        steady_rate=rows / span if span else 0.0,
        spark_input=rows / between if between else 0.0,
        spark_processing=rows / busy if busy else 0.0,
        batches=len(steady),
        durations=[duration_s(p) for p in steady],
        rows_per_batch=rows / len(steady) if steady else 0.0,
        lag_end=lags[-1],
        lag_slope=slope(second_half),
        behind_max=max((behind(p) for p in progress), default=0.0),
        drain_s=None if watcher.drained_at is None else max(0.0, watcher.drained_at - t1),
        drain_limit_s=drain_limit(),
        late=late_rows(progress),
    )


# -- per-event cost without Spark --------------------------------------------------------------


@dataclass
class Cost:
    events: int
    brain_us: float
    rows_per_event: dict[str, float]
    encode_us: float  # in the workers
    produce_us: float  # in the driver
    state_kb: float
    route_share: float
    routes: int


def per_event_cost(settings: Settings, feed: Feed, events: list[Any], batch: int) -> Cost:
    """The job's Python work per position on one core, as its group function does it in the
    workers: `RouteBrain` per route and micro-batch (state in and out as JSON, as Spark's state
    store holds it), then each output row encoded as Avro (`encode_value`). The driver only
    moves the bytes to the producer (`produce_us`: a sample written by the job's sink, in one
    transaction)."""
    catalog = Catalog(feed)
    names = {r.route_id: r.name for r in feed.routes.values()}
    outputs = output_schemas(settings)
    state: dict[str, str | None] = {}
    kinds: Counter[str] = Counter()
    sample: dict[str, tuple[list[bytes | None], list[bytes]]] = defaultdict(lambda: ([], []))
    sampled = 0
    t_brain = t_encode = 0.0
    for i in range(0, len(events), batch):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in events[i : i + batch]:
            groups[e["route_id"]].append({**e, "route_name": names.get(e["route_id"])})
        for route, group in groups.items():
            group.sort(key=lambda e: (e["ts"], e["event_id"]))
            t0 = time.perf_counter()
            brain = RouteBrain.from_json(state.get(route), catalog, settings.predict)
            out = brain.process(group)
            state[route] = brain.to_json()
            t1 = time.perf_counter()
            encoded = [encode_value(outputs[r.kind], r.value) for r in out]
            t_encode += time.perf_counter() - t1
            t_brain += t1 - t0
            kinds.update(r.kind for r in out)
            if sampled < 50_000:
                for r, v in zip(out, encoded, strict=True):
                    keys, values = sample[outputs[r.kind].topic]
                    keys.append(r.key.encode() or None)
                    values.append(v)
                sampled += len(out)
    sink = ExactlyOnceSink(settings, "bench-produce", settings.state_dir / "bench-produce")
    sink.write(0, [])  # the commits-topic lookup, done once per query
    t0 = time.perf_counter()
    sink.write(1, [TopicRecords(topic, keys, values) for topic, (keys, values) in sample.items()])
    per_row = (time.perf_counter() - t0) / max(1, sampled)
    sink.close()
    total_rows = sum(kinds.values())
    by_route = Counter(e["route_id"] for e in events)
    return Cost(
        events=len(events),
        brain_us=t_brain / len(events) * 1e6,
        rows_per_event={k: v / len(events) for k, v in sorted(kinds.items())},
        encode_us=t_encode / len(events) * 1e6,
        produce_us=per_row * total_rows / len(events) * 1e6,
        state_kb=sum(len(v or "") for v in state.values()) / 1024,
        route_share=by_route.most_common(1)[0][1] / len(events),
        routes=len(by_route),
    )


# -- report -----------------------------------------------------------------------------------


def machine() -> str:
    try:
        kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        mem = f"{kb / 2**20:.0f} GB"
    except (OSError, StopIteration):
        mem = "? GB"
    return f"{platform.node()}, {os.cpu_count()} cores, {mem}"


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def busy_cpu_s() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class CpuWatch:
    """The share of the machine's CPU that went to processes other than this bench (the Spark
    JVM and its Python workers are its children) and its stack, while the bench ran: this is a
    shared machine, and its figures mean little if something else was busy."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.t0 = time.monotonic()
        self.busy0 = busy_cpu_s()
        self.ours0 = self.ours()

    def ours(self) -> dict[int, float]:
        me = psutil.Process()
        procs = [me, *me.children(recursive=True)]
        for c in stack.COMPONENTS:
            proc = running_process(c.managed(self.settings))
            if proc is not None:
                procs += [proc, *proc.children(recursive=True)]
        out = {}
        for proc in procs:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            out[proc.pid] = t.user + t.system
        return out

    def others(self) -> float:
        ours = sum(cpu - self.ours0.get(pid, 0.0) for pid, cpu in self.ours().items())
        busy = busy_cpu_s() - self.busy0
        capacity = (time.monotonic() - self.t0) * (os.cpu_count() or 1)
        return max(0.0, busy - ours) / capacity if capacity else 0.0


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def fmt_s(x: float) -> str:
    return f"{x:.2f}" if x == x else "-"


def spread(durations: list[float]) -> str:
    if not durations:
        return "-"
    return " / ".join(
        fmt_s(x) for x in (statistics.median(durations), pct(durations, 0.9), max(durations))
    )


def report(
    args: argparse.Namespace,
    settings: Settings,
    cost: Cost | None,
    ingest_rate: float,
    catch_ups: list[CatchUp],
    floors: list[CatchUp],
    sustained: list[Sustained],
    skipped: list[int],
    loads: tuple[str, str],
    others: float,
) -> list[str]:
    lines = [
        f"## stream throughput, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}",
        f"- job `{JOB}` (`stream.run.run_job`): Kafka read_committed, Avro decode, ⋈ routes, "
        "`applyInPandasWithState` by route (map matching, ETAs, anomalies), exactly-once "
        f"`foreachBatch`; Spark {settings.spark.master}, {shuffle_partitions(settings.spark)} "
        f"shuffle partitions, driver {settings.spark.driver_memory}",
        f"- input: {args.vehicles} simulated vehicles (replicated CARTA blocks from 07:00), "
        f"a fix every {args.report_every:g} s, GPS noise and injected detours/stalls/jumps; "
        "validated and Avro-serialized as the ingestor does, no HTTP",
        f"- own stack on ports {args.port_base}..{args.port_base + 99}; load average "
        f"(1/5/15 min) {loads[0]} before, {loads[1]} after; other processes on this shared "
        f"machine used {others:.0%} of its CPU during the run",
    ]
    if cost is not None:
        rows = ", ".join(f"{v:.1f} {k}" for k, v in cost.rows_per_event.items())
        lines += [
            "",
            f"per-event Python cost on one core, no Spark ({cost.events:,} events, "
            f"batches of {args.cost_batch:,}):",
            f"- RouteBrain (map matching, ETAs, anomalies, state JSON in/out): "
            f"{cost.brain_us:.0f} µs/event (= {1e6 / cost.brain_us:,.0f} events/s per core)",
            f"- output rows per event: {rows}",
            f"- Avro encoding of those rows, in the workers: {cost.encode_us:.0f} µs/event",
            "- the driver's write of those rows (`ExactlyOnceSink`): "
            f"{cost.produce_us:.0f} µs/event "
            f"(= {1e6 / cost.produce_us:,.0f} events/s, one driver thread)",
            f"- routes: {cost.routes}; the busiest has {cost.route_share:.0%} of the events; "
            f"state of all routes {cost.state_kb:,.0f} KB (JSON, read and written each batch)",
        ]
    if catch_ups:
        total_rows = sum(c.rows for c in catch_ups) or 1
        lines += [
            "",
            f"catch-up: {args.preload:,} events preloaded (ingestor path in-process: "
            f"{ingest_rate:,.0f} events/s), `available_now=True`:",
            "",
            *table(
                [
                    "maxOffsetsPerTrigger",
                    "batches",
                    "rows",
                    "wall s",
                    "rows/s",
                    "batch p50 / p90 / max s",
                    "min s",
                    "addBatch share",
                    "late rows",
                ],
                [
                    [
                        f"{c.max_offsets:,}",
                        str(c.batches),
                        f"{c.rows:,}",
                        f"{c.wall_s:.1f}",
                        f"{c.rate:,.0f}",
                        spread(c.durations),
                        fmt_s(min(c.durations)),
                        f"{c.add_batch_share:.0%}",
                        str(c.late),
                    ]
                    for c in catch_ups
                ],
            ),
            "",
            "- records the job wrote per position (catch-up runs): "
            + ", ".join(
                f"{sum(c.written.get(k, 0) for c in catch_ups) / total_rows:.2f} {k}"
                for k in sorted({k for c in catch_ups for k in c.written})
            ),
        ]
    if floors:
        lines += [
            "",
            "floor: the same catch-up with the per-route function idle (it reads its input, keeps "
            "its state and returns no rows); a micro-batch costs this before any of the job's "
            "work:",
            "",
            *table(
                ["maxOffsetsPerTrigger", "batches", "batch p50 / p90 / max s", "min s"],
                [
                    [
                        f"{f.max_offsets:,}",
                        str(f.batches),
                        spread(f.durations),
                        fmt_s(min(f.durations)),
                    ]
                    for f in floors
                ],
            ),
        ]
    if sustained or skipped:
        lines += [
            "",
            f"sustained: a producer thread feeds R events/s for {args.duration:g} s while the job "
            f"runs with its normal trigger ({settings.spark.trigger_s:g} s, maxOffsetsPerTrigger "
            f"{settings.spark.max_offsets_per_trigger:,}). Spark's rates (row-weighted), processed "
            "(rows / their span) and batches: the batches started in the second half of the "
            "feed; lag = topic end offsets - last completed batch's end offsets; "
            "drained = feed stop -> all of it processed. keeps up = processed >= 95% of fed "
            "and drained within two batch cycles + 2 s (the limit). Spark's "
            "maxOffsetsBehindLatest (max over batches) stays 0 unless maxOffsetsPerTrigger caps "
            "a batch, hence the lag measured here. Fixes per vehicle per batch = rows per batch / "
            "fleet size: above 1, the job predicts ETAs from each vehicle's latest fix only "
            "(`RouteBrain.process`), so a small fleet fed fast costs less per position than a "
            "large one at the same rate:",
            "",
            *table(
                [
                    "R",
                    "fed ev/s",
                    "Spark input rows/s",
                    "Spark processing rows/s",
                    "processed ev/s",
                    "batches",
                    "batch p50 / p90 / max s",
                    "fixes per vehicle per batch",
                    "lag at feed end",
                    "lag slope, 2nd half /s",
                    "maxOffsetsBehindLatest",
                    "drained after s (limit)",
                    "keeps up",
                ],
                [
                    [
                        f"{r.target:,}",
                        f"{r.fed_rate:,.0f}",
                        f"{r.spark_input:,.0f}",
                        f"{r.spark_processing:,.0f}",
                        f"{r.steady_rate:,.0f}",
                        str(r.batches),
                        spread(r.durations),
                        f"{r.rows_per_batch / args.vehicles:.1f}",
                        f"{r.lag_end:,}",
                        f"{r.lag_slope:+,.0f}",
                        f"{r.behind_max:,.0f}",
                        f"{fmt_s(r.drain_s) if r.drain_s is not None else 'no'} "
                        f"({r.drain_limit_s:.0f})",
                        "yes" if r.keeps_up else "**no**",
                    ]
                    for r in sustained
                ]
                + [[f"{r:,}", *["-"] * 11, "not run: a lower rate fell behind"] for r in skipped],
            ),
            "",
            "- rows dropped by the watermark: "
            + ", ".join(f"{r.late:,} at {r.target:,}/s" for r in sustained),
        ]
        kept = [r for r in sustained if r.keeps_up]
        if kept:
            best = max(kept, key=lambda r: r.target)
            p50 = statistics.median(best.durations) if best.durations else float("nan")
            lines += [
                "",
                f"**headline: the job keeps up with {best.target:,} positions/s (batch p50 "
                f"{fmt_s(p50)} s, p90 {fmt_s(pct(best.durations, 0.9))} s)**",
            ]
        else:
            lines += ["", "**headline: the job kept up with none of the rates tried**"]
        met = any(r.keeps_up and r.target >= 10_000 and pct(r.durations, 0.9) < 1 for r in kept)
        lines.append(
            "- target 10,000 positions/s with batches under 1 s: "
            + ("met" if met else "**not met**")
        )
    limits: list[str] = []
    if cost is not None:
        cores = os.cpu_count() or 1
        python_us = cost.brain_us + cost.encode_us + cost.produce_us
        out_rows = sum(cost.rows_per_event.values())
        limits += [
            f"- Python work per position: {cost.brain_us:.0f} µs (RouteBrain) + "
            f"{cost.encode_us:.0f} µs (Avro for {out_rows:.0f} output rows) in the workers, "
            f"{cost.produce_us:.0f} µs (produce) in the driver = {python_us:.0f} µs, so "
            f"{cores} cores give at most {cores * 1e6 / python_us:,.0f} positions/s before any "
            "of Spark's own work (Kafka read, from_avro, shuffle, Arrow, state store, "
            "transfer to the driver, Kafka transaction); 10,000/s would need "
            f"{10_000 * python_us / 1e6:.1f} cores of Python alone",
            f"- the driver's share runs in one thread: at most {1e6 / cost.produce_us:,.0f} "
            f"positions/s ({10_000 * out_rows:,.0f} output records/s at 10,000 positions/s)",
            f"- grouped by route: {cost.routes} routes in the input, the busiest with "
            f"{cost.route_share:.0%} of the events; its group is one task, which bounds a batch "
            "however many cores there are",
        ]
    if catch_ups:
        smallest = min(
            ((size, d) for c in catch_ups for size, d in zip(c.sizes, c.durations, strict=True)),
            key=lambda x: x[1],
        )
        limits.append(
            f"- fixed cost per batch: the smallest batch ({smallest[0]:,} rows) took "
            f"{smallest[1]:.2f} s"
        )
    for f in floors:
        limits.append(
            f"- the floor: with the per-route function idle, a batch of {f.max_offsets:,} rows "
            f"took {fmt_s(statistics.median(f.durations))} s (p50)"
        )
    if limits:
        lines += ["", "what limits it (from these figures):", *limits]
    return [*lines, ""]


# -- main -------------------------------------------------------------------------------------


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--vehicles", type=int, default=1500, help="simulated fleet size")
    parser.add_argument("--report-every", type=float, default=10.0, help="sim s between fixes")
    parser.add_argument("--seed", type=int, default=42, help="of the simulated fleet")
    parser.add_argument(
        "--cost-events", type=int, default=20_000, help="events of the no-Spark cost (0: skip)"
    )
    parser.add_argument("--cost-batch", type=int, default=10_000, help="micro-batch of the cost")
    parser.add_argument("--preload", type=int, default=30_000, help="catch-up events (0: skip)")
    parser.add_argument(
        "--max-offsets",
        type=ints,
        default="5000,10000,20000",
        help="catch-up maxOffsetsPerTrigger sizes, comma-separated",
    )
    parser.add_argument(
        "--rates",
        type=ints,
        default="250,500,750,1000,2000,5000,10000",
        help="sustained input rates, events/s, comma-separated ('': skip)",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate")
    parser.add_argument(
        "--trigger", type=float, default=None, help="trigger interval, s (None: Settings')"
    )
    parser.add_argument(
        "--all-rates",
        action="store_true",
        help="also run the rates above one the job did not keep up with",
    )
    parser.add_argument(
        "--floor-batch",
        type=ints,
        default="1000,10000",
        help="maxOffsetsPerTrigger sizes of the floor runs (the job's function idle; 0: skip)",
    )
    parser.add_argument("--warmup", type=int, default=3_000, help="events of the warm-up run")
    parser.add_argument(
        "--port-base", type=int, default=28_000, help="the bench stack's ports: base+00..base+99"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="the stack's folder (None: a temp dir, deleted at the end)",
    )
    parser.add_argument(
        "--keep-stack", action="store_true", help="leave the bench stack running (and its data)"
    )
    parser.add_argument(
        "--no-record", action="store_true", help="print only; do not append to results.md"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    temp = args.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="transitstream-bench-")) if temp else args.state_dir
    settings = bench_settings(state_dir.resolve(), args.port_base)
    if args.trigger is not None:
        settings = settings.with_spark(trigger_s=args.trigger)
    loads_before = load()
    t_start = time.monotonic()
    print(f"bench stack in {settings.state_dir}, ports {args.port_base}..{args.port_base + 99}")
    spark: SparkSession | None = None
    try:
        stack.up(settings, report=lambda line: print(f"  {line}"))
        cpu = CpuWatch(settings)
        feed = load_feed(settings.gtfs_path)

        def step(text: str) -> None:
            print(f"[{time.monotonic() - t_start:6.1f} s] {text}", flush=True)

        cost = None
        if args.cost_events:
            step(f"per-event cost of {args.cost_events:,} events, no Spark")
            events = fleet_events(feed, args.vehicles, args.cost_events, args.report_every, 7)
            cost = per_event_cost(settings, feed, events, args.cost_batch)

        spark = spark_session(settings, f"transitstream-{JOB}")
        log = ProgressLog()
        spark.streams.addListener(log)
        position = settings.topics.position

        step(f"warm-up: {args.warmup:,} events (JVM, Python workers, GTFS catalog per worker)")
        truncate(settings, position, *output_topics(settings))
        ingest(settings, fleet_events(feed, args.vehicles, args.warmup, args.report_every, 3))
        run_catch_up(settings, log, "warmup", 10_000, args.warmup)

        catch_ups: list[CatchUp] = []
        floors: list[CatchUp] = []
        ingest_rate = 0.0
        if args.preload:
            step(f"preload {args.preload:,} events")
            truncate(settings, position, *output_topics(settings))
            events = fleet_events(feed, args.vehicles, args.preload, args.report_every, args.seed)
            ingest_rate = ingest(settings, events)
            for size in args.max_offsets:
                step(f"catch-up, maxOffsetsPerTrigger {size:,}")
                c = run_catch_up(settings, log, f"catchup-{size}", size, args.preload)
                print(
                    f"  {c.rows:,} rows in {c.wall_s:.1f} s = {c.rate:,.0f} rows/s, "
                    f"{c.batches} batches, p50 {statistics.median(c.durations):.2f} s"
                )
                catch_ups.append(c)
                truncate(settings, *output_topics(settings))  # the bench's disk, not the input
            for size in [n for n in args.floor_batch if n > 0]:
                step(f"floor: catch-up in batches of {size:,}, per-route function idle")
                floors.append(run_floor(settings, log, size, args.preload))
                print(f"  {floors[-1].batches} batches, {spread(floors[-1].durations)} s")
                truncate(settings, *output_topics(settings))

        sustained: list[Sustained] = []
        skipped: list[int] = []
        for rate in sorted(args.rates):
            if sustained and not sustained[-1].keeps_up and not args.all_rates:
                skipped.append(rate)
                continue
            n = int(rate * args.duration)
            step(f"sustained {rate:,} events/s: generating and serializing {n:,} events")
            events = fleet_events(feed, args.vehicles, n, args.report_every, args.seed)
            payloads = serialized(settings, events)
            del events
            step(f"sustained {rate:,} events/s for {args.duration:g} s")
            r = run_sustained(
                spark, settings, log, f"sustained-{rate}", payloads, rate, args.duration
            )
            print(
                f"  fed {r.fed_rate:,.0f}/s, processed {r.steady_rate:,.0f}/s, "
                f"{r.batches} batches ({spread(r.durations)} s), lag at feed end {r.lag_end:,}, "
                f"drained after {fmt_s(r.drain_s) if r.drain_s is not None else 'no'} s "
                f"(limit {r.drain_limit_s:.0f}), late rows {r.late}, keeps up: {r.keeps_up}"
            )
            sustained.append(r)

        lines = report(
            args,
            settings,
            cost,
            ingest_rate,
            catch_ups,
            floors,
            sustained,
            skipped,
            (loads_before, load()),
            cpu.others(),
        )
        step("done")
        print("\n".join(lines))
        if not args.no_record:
            with RESULTS.open("a") as f:
                f.write("\n".join(lines) + "\n")
    finally:
        if spark is not None:
            release_writers(spark)
        if args.keep_stack:
            print(f"bench stack left running in {settings.state_dir}; stop it with")
            print(f"  TRANSITSTREAM_STATE_DIR={settings.state_dir} {port_env(args.port_base)}")
            print("  .venv/bin/transitstream infra down")
        elif stop_stack(settings) and temp:
            shutil.rmtree(state_dir, ignore_errors=True)


def stop_stack(settings: Settings) -> bool:
    """`stack.down`; should it fail, stop the stack's processes one by one all the same, so that
    the bench never leaves a Kafka or a Postgres behind. True if everything stopped."""
    try:
        stack.down(settings)
        return True
    except Exception as exc:
        print(f"stack.down failed ({exc!r}); stopping the bench stack's processes directly")
    for c in reversed(stack.COMPONENTS):
        try:
            stop(c.managed(settings), sig=c.stop_signal)
        except Exception as exc:
            print(f"could not stop {c.name}: {exc!r}; see {c.managed(settings).pid_file}")
            return False
    return True


def release_writers(spark: SparkSession) -> None:
    """Stop Spark and free the jobs' foreachBatch writers before the stack goes.

    py4j keeps every Python object handed to the JVM (each run's foreachBatch writer with its
    transactional producer, and the listeners) in its proxy pool, spark.stop() or not; left
    there, the producers would log reconnect errors once Kafka stops. Spark is done here, so
    the pool is emptied (`PythonProxyPool.clear`, public py4j API).
    """
    gateway = spark.sparkContext._gateway
    spark.stop()
    if gateway is not None:
        gateway.gateway_property.pool.clear()
    gc.collect()


def port_env(base: int) -> str:
    return " ".join(f"{k}={v}" for k, v in port_block_env(Path("."), base).items() if "PORT" in k)


if __name__ == "__main__":
    main()
