"""Job health for Prometheus: each query's progress, as Spark reports it after every batch.

A `StreamingQueryListener` copies the progress into gauges (input and processing rate, batch
duration, state rows, rows dropped as too late) served on `Settings.spark.exporter_port`, which
the Prometheus config scrapes as job `stream`.

Lag is not taken from the progress: Spark's `maxOffsetsBehindLatest` compares the batch's end with
the latest offsets *it planned against*, which is 0 unless `maxOffsetsPerTrigger` capped the
batch, however far behind the job falls while a batch runs. `OffsetsBehind` instead asks the
broker for the topic's end at scrape time and subtracts the end of the last completed batch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from transitstream.config import Settings


def batch_end_offsets(progress: dict[str, Any]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> next offset to read, from a progress' Kafka sources."""
    out: dict[tuple[str, int], int] = {}
    for source in progress.get("sources", []):
        end = source.get("endOffset")
        if isinstance(end, str):
            end = json.loads(end)
        for topic, partitions in (end or {}).items():
            for partition, offset in partitions.items():
                out[(topic, int(partition))] = int(offset)
    return out


class OffsetsBehind(Collector):
    """`stream_offsets_behind_latest`: the broker's end offsets now minus the last batch's end."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ends: dict[str, dict[tuple[str, int], int]] = {}
        self._consumer: Consumer | None = None
        self._lock = threading.Lock()  # the ends, updated by the listener thread
        self._broker = threading.Lock()  # the consumer, used by scrapes (threads of their own)

    def update(self, query: str, progress: dict[str, Any]) -> None:
        with self._lock:
            self._ends[query] = batch_end_offsets(progress)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "stream_offsets_behind_latest",
            "Offsets between the topic end (now) and the end of the last completed batch",
            labels=["query"],
        )
        with self._lock:  # copied, so the listener thread never waits on the broker
            ends = {q: dict(e) for q, e in self._ends.items()}
        for query, partitions in ends.items():
            behind = 0
            for (topic, partition), offset in partitions.items():
                high = self._high(topic, partition)
                if high is not None:
                    behind += max(0, high - offset)
            family.add_metric([query], float(behind))
        yield family

    def _high(self, topic: str, partition: int) -> int | None:
        with self._broker:
            return self._ask(topic, partition)

    def _ask(self, topic: str, partition: int) -> int | None:
        try:
            if self._consumer is None:
                self._consumer = Consumer(
                    self._settings.kafka_config(**{"group.id": "transitstream-stream-lag"})
                )
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=2, cached=False
            )
            return int(high)
        except Exception:  # the broker is away: no figure rather than a wrong one
            return None

    def close(self) -> None:
        with self._broker:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None


class QueryMetrics(StreamingQueryListener):
    def __init__(self, spark: SparkSession, settings: Settings, serve: bool = True) -> None:
        self._spark = spark
        self.registry = CollectorRegistry()
        labels = ["query"]
        r = self.registry
        self.input_rate = Gauge("stream_input_rows_per_second", "Input rate", labels, registry=r)
        self.process_rate = Gauge(
            "stream_processed_rows_per_second", "Processing rate", labels, registry=r
        )
        self.duration = Gauge(
            "stream_batch_duration_seconds", "Last micro-batch duration", labels, registry=r
        )
        self.behind = OffsetsBehind(settings)
        r.register(self.behind)
        self.state_rows = Gauge("stream_state_rows", "Rows in the state store", labels, registry=r)
        self.batches = Counter("stream_batches", "Micro-batches completed", labels, registry=r)
        self.rows = Counter("stream_input_rows", "Rows read", labels, registry=r)
        self.late = Counter(
            "stream_late_rows", "Rows dropped by the watermark (too late)", labels, registry=r
        )
        self._totals: dict[str, list[int]] = {}  # batches, rows, late: all of them, no cap
        self._last_batch: dict[str, int] = {}
        self._seen = threading.Condition()
        self._server: Any = None
        if serve:
            self._server = start_http_server(
                settings.spark.exporter_port,
                addr=settings.spark.exporter_host,
                registry=self.registry,
            )
        spark.streams.addListener(self)

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryProgress(self, event: Any) -> None:
        p = event.progress
        name = p.name or str(p.id)
        late = sum(op.numRowsDroppedByWatermark for op in p.stateOperators)
        self.input_rate.labels(name).set(p.inputRowsPerSecond or 0.0)
        self.process_rate.labels(name).set(p.processedRowsPerSecond or 0.0)
        self.duration.labels(name).set((p.batchDuration or 0) / 1000.0)
        self.state_rows.labels(name).set(sum(op.numRowsTotal for op in p.stateOperators))
        self.behind.update(name, json.loads(p.json))
        self.batches.labels(name).inc()
        self.rows.labels(name).inc(p.numInputRows)
        self.late.labels(name).inc(late)
        with self._seen:
            totals = self._totals.setdefault(name, [0, 0, 0])
            totals[0] += 1
            totals[1] += p.numInputRows
            totals[2] += late
            self._last_batch[name] = p.batchId
            self._seen.notify_all()

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass

    def totals(self, name: str, through_batch: int | None = None) -> tuple[int, int, int]:
        """(batches, input rows, late rows) of every batch reported, unlike Spark's
        `recentProgress` (the last 100). Events come on the listener's thread, after the batch:
        `through_batch` waits (a few seconds at most) until that batch has been counted."""
        with self._seen:
            if through_batch is not None:
                self._seen.wait_for(
                    lambda: self._last_batch.get(name, -1) >= through_batch, timeout=10
                )
            batches, rows, late = self._totals.get(name, [0, 0, 0])
        return batches, rows, late

    def close(self) -> None:
        self._spark.streams.removeListener(self)
        self.behind.close()
        if self._server is not None:
            server = self._server[0] if isinstance(self._server, tuple) else self._server
            server.shutdown()
            server.server_close()
