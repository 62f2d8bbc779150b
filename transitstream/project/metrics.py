"""The projector's Prometheus metrics and its small HTTP server (/metrics and /healthz).

Process-wide, as prometheus-client intends. The server is the standard library's (a projector
is a consumer loop, not a web app): `/healthz` answers 200 while the loop has turned recently.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

RECORDS = Counter("projector_records_total", "Records consumed", ["topic"])
UPSERTED = Counter("projector_rows_upserted_total", "Rows inserted or changed", ["table"])
BATCH_SECONDS = Histogram(
    "projector_batch_seconds",
    "Time to write one batch (upserts + offsets) in its Postgres transaction",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
BATCH_RECORDS = Histogram(
    "projector_batch_records", "Records per batch", buckets=(1, 10, 100, 500, 1000, 5000, 20000)
)
LAG = Gauge("projector_consumer_lag", "Offsets behind the partition's end", ["topic", "partition"])
DLQ = Counter("projector_dlq_total", "Records sent to the projector DLQ", ["topic", "reason"])
REBUILD_PROGRESS = Gauge("projector_rebuild_progress", "Share of the log replayed (0-1)", ["table"])
STALE_DELETED = Counter("projector_stale_etas_deleted_total", "ETAs removed as stale")
STALE_VEHICLES = Gauge("projector_stale_vehicles", "Vehicles marked stale")


class Heartbeat:
    """The loop beats each turn; healthy while the last beat is recent."""

    def __init__(self, max_age_s: float = 30.0) -> None:
        self.max_age_s = max_age_s
        self.last = time.monotonic()
        self.detail: dict[str, object] = {}

    def beat(self, **detail: object) -> None:
        self.last = time.monotonic()
        self.detail.update(detail)

    def healthy(self) -> bool:
        return time.monotonic() - self.last < self.max_age_s


def serve(host: str, port: int, heartbeat: Heartbeat) -> ThreadingHTTPServer:
    """Start the server in a daemon thread; call `.shutdown()` and `.server_close()` to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path.startswith("/healthz"):
                ok = heartbeat.healthy()
                body = {
                    "status": "ok" if ok else "stalled",
                    "last_turn_s_ago": round(time.monotonic() - heartbeat.last, 2),
                    **heartbeat.detail,
                }
                self._send(200 if ok else 503, json.dumps(body).encode(), "application/json")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # Prometheus scrapes every few seconds: no access log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="projector-metrics", daemon=True).start()
    return server
