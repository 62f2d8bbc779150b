"""The HTTP side, against `httpx.MockTransport`: retries with the same body, bookkeeping, run()."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from transitstream.config import Settings, load_settings
from transitstream.ingest.validate import validate_event
from transitstream.simulate import (
    EXPECTED_CODE,
    NOT_JSON,
    IngestAuthError,
    IngestClient,
    SimParams,
    first_token,
    run,
)
from transitstream.simulate.generate import Tick
from transitstream.simulate.post import Poster
from transitstream.simulate.summary import Counts

Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A clock that advances only when slept on, so retry waits cost nothing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def client(handler: Handler, clock: FakeTime, max_retry_s: float = 300.0) -> IngestClient:
    return IngestClient(
        "http://ingest.test",
        "tok",
        max_retry_s=max_retry_s,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )


YESTERDAY_EVENING = (datetime.now(UTC) - timedelta(days=1)).replace(
    hour=17, minute=46, second=0, microsecond=0
)
"""A fixed time of day in full service (anchored to the wall clock, or the ingestor's time limits
would reject it): at some hours CARTA runs too few trips to place every injected fault."""


def ingestor(settings: Settings, token: str | None = None) -> Handler:
    """The ingestor's HTTP contract, judged by its own validation (no Kafka)."""
    expected = f"Bearer {token or first_token(settings.ingest)}"

    def handle(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, json={"detail": "missing or unknown device token"})
        try:
            items = json.loads(request.content)
        except (UnicodeDecodeError, json.JSONDecodeError):
            error = {"index": None, "code": "not_json", "reason": "body is not JSON"}
            return httpx.Response(400, json={"accepted": 0, "rejected": 1, "errors": [error]})
        now_ms = int(time.time() * 1000)
        errors = []
        for i, item in enumerate(items):
            _record, rejection = validate_event(item, now_ms, settings.ingest)
            if rejection is not None:
                errors.append({"index": i, "code": rejection.code, "reason": rejection.reason})
        body = {"accepted": len(items) - len(errors), "rejected": len(errors), "errors": errors}
        return httpx.Response(202, json=body)

    return handle


def test_503_is_retried_with_the_same_body_after_retry_after() -> None:
    seen: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        assert request.headers["authorization"] == "Bearer tok"
        if len(seen) <= 2:
            return httpx.Response(503, headers={"Retry-After": "3"}, json={"detail": "kafka down"})
        return httpx.Response(202, json={"accepted": 2, "rejected": 0, "errors": []})

    clock = FakeTime()
    body = b'[{"vehicle_id":"bus-001"},{"vehicle_id":"bus-002"}]'
    result = client(handle, clock).post_batch(body)
    assert result.status == 202 and result.accepted == 2 and result.failed is None
    assert result.retries == 2
    assert seen == [body, body, body]
    assert clock.sleeps == [3.0, 3.0]  # Retry-After wins over the shorter backoff


def test_refused_connections_back_off_exponentially_up_to_a_cap() -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls <= 8:
            raise httpx.ConnectError("Connection refused", request=request)
        return httpx.Response(202, json={"accepted": 1, "rejected": 0, "errors": []})

    clock = FakeTime()
    result = client(handle, clock).post_batch(b"[{}]")
    assert result.failed is None and result.retries == 8
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_batch_that_never_gets_through_is_reported_failed_not_dropped() -> None:
    clock = FakeTime()
    result = client(lambda r: httpx.Response(503), clock, max_retry_s=60).post_batch(b"[]")
    assert result.failed is not None and "gave up" in result.failed
    assert result.retries >= 4
    assert sum(clock.sleeps) == pytest.approx(60.0)


def test_a_bad_token_stops_at_once_and_other_4xx_fail_without_retry() -> None:
    clock = FakeTime()
    with pytest.raises(IngestAuthError, match="--token"):
        client(lambda r: httpx.Response(401), clock).post_batch(b"[]")
    result = client(lambda r: httpx.Response(404, text="no route"), clock).post_batch(b"[]")
    assert result.status == 404 and result.failed is not None and result.retries == 0
    assert clock.sleeps == []


def test_poster_matches_each_rejection_to_what_was_injected_and_splits_on_413() -> None:
    settings = load_settings()
    inner = ingestor(settings, token="tok")
    sizes: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        try:
            n = len(json.loads(request.content))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return inner(request)
        sizes.append(n)
        return httpx.Response(413) if n > 3 else inner(request)

    ts = int(time.time() * 1000)
    good = {"vehicle_id": "bus-001", "lat": 35.0, "lon": -85.3, "ts": ts}
    items: list[object] = [good, {**good, "lat": 95.0}, good, "not an object", good, good]
    kinds = [None, "out_of_range", None, "not_an_object", None, None]
    tick = Tick(0, 0, ts, [], items, kinds, [b"{broken"], [])
    counts = Counts()
    with client(handle, FakeTime()) as c:
        Poster(c, counts, None, max_batch=6).tick(tick)
    assert sizes[0] == 6 and max(sizes[1:]) <= 3
    assert counts.sent == 7 and counts.accepted == 4 and counts.rejected == 3
    assert counts.bad_matched == {"out_of_range": 1, "not_an_object": 1, NOT_JSON: 1}
    assert not counts.mismatches and not counts.good_rejected and counts.failure is None


def test_run_posts_the_window_and_writes_the_ground_truth(tmp_path: Path) -> None:
    settings = load_settings(state_dir=str(tmp_path / "state"))
    requests: list[httpx.Request] = []
    inner = ingestor(settings)

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return inner(request)

    rates = {kind: 0.01 for kind in EXPECTED_CODE}
    params = SimParams(
        vehicles=10, duration_s=60, realtime=False, bad_rates=rates, not_json_rate=0.1
    )
    with IngestClient(
        settings.ingest.url, first_token(settings.ingest), transport=httpx.MockTransport(handle)
    ) as c:
        summary = run(params, settings=settings, client=c, quiet=True, now=YESTERDAY_EVENING)
    counts = summary.counts
    assert summary.ok, counts.failure
    assert summary.out_dir.parent == tmp_path / "state" / "simulate"
    assert requests and all(r.url.path == "/v1/positions/batch" for r in requests)
    assert counts.generated == counts.accepted > 100
    assert counts.injected == counts.bad_matched and sum(counts.injected.values()) > 0
    assert not counts.mismatches and not counts.good_rejected
    assert counts.sent == counts.accepted + counts.rejected
    saved = json.loads(summary.files["run"].read_text())
    assert saved["ok"] is True and saved["counts"]["accepted"] == counts.accepted
    assert saved["template_date"] == summary.template_date and saved["seed"] == 42
    with summary.files["arrivals"].open() as handle_:
        rows = list(csv.DictReader(handle_))
    assert len(rows) == summary.arrivals > 0
    assert all(summary.window_start_ms < int(r["true_arrival"]) for r in rows)
    with summary.files["bad_events"].open() as handle_:
        bad = list(csv.DictReader(handle_))
    assert len(bad) == sum(counts.injected.values())
    assert all(r["expected_code"] == r["server_code"] for r in bad)
    with summary.files["anomalies"].open() as handle_:
        assert len(list(csv.DictReader(handle_))) == len(summary.anomalies) == 6


def test_run_stops_and_says_so_when_the_ingestor_stays_down(tmp_path: Path) -> None:
    settings = load_settings(state_dir=str(tmp_path))

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    clock = FakeTime()
    params = SimParams(vehicles=5, duration_s=30, realtime=False)
    summary = run(params, settings=settings, client=client(down, clock, 5.0), quiet=True)
    assert not summary.ok
    assert summary.counts.failed_batches == 1 and summary.counts.failed_events > 0
    assert summary.counts.failure is not None and "refused" in summary.counts.failure
    assert summary.ticks == 1
    assert json.loads(summary.files["run"].read_text())["ok"] is False


def test_run_with_a_refused_token_fails_its_first_batch_and_stops(tmp_path: Path) -> None:
    settings = load_settings(state_dir=str(tmp_path))
    params = SimParams(vehicles=5, duration_s=30, realtime=False)
    with IngestClient(
        settings.ingest.url, "wrong", transport=httpx.MockTransport(ingestor(settings))
    ) as c:
        summary = run(params, settings=settings, client=c, quiet=True)
    assert not summary.ok and summary.ticks == 1
    assert summary.counts.failure is not None and "401" in summary.counts.failure
    assert summary.counts.failed_events == summary.counts.generated + sum(
        n for kind, n in summary.counts.injected.items() if kind != NOT_JSON
    )


def test_first_token_is_the_first_written_not_a_set_order() -> None:
    settings = load_settings(ingest={"tokens": " , zeta-token, alpha-token"})
    assert first_token(settings.ingest) == "zeta-token"
