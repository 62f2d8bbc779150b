"""Job health for Prometheus: each query's progress, as Spark reports it after every batch.

A `StreamingQueryListener` copies the progress into gauges (input and processing rate, batch
duration, offsets behind the end of the topic, state rows, rows dropped as too late) served on
`Settings.spark.exporter_port`, which the Prometheus config scrapes as job `stream`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQueryListener

from transitstream.config import Settings


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
        self.behind = Gauge(
            "stream_offsets_behind_latest", "Max offsets behind the topic end", labels, registry=r
        )
        self.state_rows = Gauge("stream_state_rows", "Rows in the state store", labels, registry=r)
        self.batches = Counter("stream_batches", "Micro-batches completed", labels, registry=r)
        self.rows = Counter("stream_input_rows", "Rows read", labels, registry=r)
        self.late = Counter(
            "stream_late_rows", "Rows dropped by the watermark (too late)", labels, registry=r
        )
        self._last: dict[str, dict[str, Any]] = {}
        self._totals: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        if serve:
            self._server = start_http_server(
                settings.spark.exporter_port, addr="127.0.0.1", registry=self.registry
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
        behind = [float(s.metrics.get("maxOffsetsBehindLatest") or 0) for s in p.sources]
        self.behind.labels(name).set(max(behind, default=0.0))
        self.batches.labels(name).inc()
        self.rows.labels(name).inc(p.numInputRows)
        self.late.labels(name).inc(late)
        with self._lock:
            totals = self._totals.setdefault(name, [0, 0, 0])
            totals[0] += 1
            totals[1] += p.numInputRows
            totals[2] += late
            self._last[name] = json.loads(p.json)

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass

    def totals(self, name: str) -> tuple[int, int, int]:
        with self._lock:
            batches, rows, late = self._totals.get(name, [0, 0, 0])
        return batches, rows, late

    def last(self, name: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._last.get(name, {}))

    def close(self) -> None:
        self._spark.streams.removeListener(self)
        if self._server is not None:
            server = self._server[0] if isinstance(self._server, tuple) else self._server
            server.shutdown()
            server.server_close()
