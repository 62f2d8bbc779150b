"""The ingestor's Prometheus metrics (process-wide, as prometheus-client intends)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "ingest_requests_total", "HTTP requests by route and status", ["route", "status"]
)
ACCEPTED = Counter("ingest_events_accepted_total", "Events written to the position topic")
REJECTED = Counter(
    "ingest_events_rejected_total", "Events written to the dead-letter topic", ["reason"]
)
PRODUCE_SECONDS = Histogram(
    "ingest_produce_seconds",
    "Time to produce and commit one request's transaction",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
)
ABORTS = Counter("ingest_transaction_aborts_total", "Transactions aborted (Kafka unavailable)")
UNAUTHORIZED = Counter("ingest_unauthorized_total", "Requests refused for a missing or bad token")
