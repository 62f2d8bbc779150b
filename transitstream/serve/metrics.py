"""The API's Prometheus metrics (process-wide, as prometheus-client intends)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUEST_SECONDS = Histogram(
    "serve_request_seconds",
    "HTTP request latency by route template (not raw path: ids would explode the labels)",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
WS_CLIENTS = Gauge("serve_websocket_clients", "WebSocket clients connected now")
MESSAGES_PUSHED = Counter(
    "serve_messages_pushed_total", "WebSocket messages sent, by type", ["type"]
)
PUSH_LAG = Histogram(
    "serve_push_lag_seconds",
    "now - event time of each vehicle state pushed over the WebSocket",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
SKIPPED = Counter(
    "serve_websocket_skipped_total", "Queued deltas merged into one for a slow client"
)
DROPPED = Counter("serve_websocket_dropped_total", "Clients disconnected by the server", ["reason"])
POLL_SECONDS = Histogram(
    "serve_poll_seconds",
    "One read-model poll (all tables, all clients)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
POLL_ERRORS = Counter("serve_poll_errors_total", "Polls that failed (Postgres unreachable)")
REALTIME_OMITTED = Counter(
    "serve_realtime_omitted_total",
    "ids left out of a GTFS-realtime answer because the static GTFS feed does not have them "
    "(per answer built: a bad row is counted each time a feed is requested)",
    ["feed", "kind"],
)
CACHE = Counter(
    "serve_cache_requests_total",
    "/eta and /vehicles/{id} answers by cache outcome: hit, miss (read Postgres, then stored), "
    "bypass (the poller is down or a NOTIFY is not scanned yet: read Postgres)",
    ["result"],
)
