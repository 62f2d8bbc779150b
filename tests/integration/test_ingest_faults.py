"""Kill -9 the Kafka broker while a fleet is reporting, then bring it back.

Meanwhile the ingestor must answer 503 (never 202 for what it could not store) and stay up; the
simulator retries the same bodies; afterwards every event that got a 202 is in the topic, and
deduplicated by event_id each is there exactly once. Runs on a stack of its own.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.isolated import isolated_stack
from transitstream.config import Settings
from transitstream.infra import kafka
from transitstream.infra import stack as native
from transitstream.infra.process import read_pid
from transitstream.ingest.audit import audit
from transitstream.simulate import RunSummary, SimParams, run

from .test_simulate_ingest import good_event_ids

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with isolated_stack(tmp_path_factory.mktemp("faults") / "state", 25000) as settings:
        yield settings


def probe(settings: Settings) -> int:
    fix = {"vehicle_id": "probe", "lat": 35.0, "lon": -85.3, "ts": int(time.time() * 1000)}
    token = sorted(settings.ingest.token_set())[0]
    try:
        response = httpx.post(
            f"{settings.ingest.url}/v1/positions",
            json=fix,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.HTTPError:
        return -1
    if response.status_code == 503:  # a 503 says when to come back
        assert response.headers.get("Retry-After", "").isdigit(), response.headers
    return response.status_code


def test_broker_killed_mid_ingestion(own_stack: Settings) -> None:
    s = own_stack
    params = SimParams(
        vehicles=10, speedup=10, duration_s=36, realtime=True, seed=11,
        bad_rate=0.0, not_json_rate=0.0, detours=0, stalls=0, jumps=0,
        out_dir=s.state_dir / "sim-fault",
    )  # fmt: skip
    now = datetime.now(UTC)
    result: dict[str, RunSummary] = {}
    thread = threading.Thread(
        target=lambda: result.update(summary=run(params, settings=s, now=now, quiet=True))
    )
    t0 = int(time.time() * 1000)
    thread.start()
    time.sleep(6)

    broker = read_pid(kafka.COMPONENT.managed(s))
    assert broker is not None
    os.kill(broker, signal.SIGKILL)
    codes = Counter(probe(s) for _ in range(3))
    assert codes[503] >= 1, codes  # not stored, and the client is told to retry
    assert codes[202] == 0, codes
    health = httpx.get(f"{s.ingest.url}/healthz", timeout=30)
    assert health.status_code == 503 and "unreachable" in health.json()["kafka"]
    time.sleep(4)
    native.start(kafka.COMPONENT, s)

    thread.join(timeout=300)
    assert not thread.is_alive()
    summary = result["summary"]
    assert summary.ok, summary.counts.failure
    assert summary.counts.retries > 0, "the simulator never had to retry: the kill missed"
    assert probe(s) == 202  # the ingestor recovered without a restart

    found = audit(s, t0, int(time.time() * 1000))
    ids = Counter(p["event_id"] for p in found.positions if p["vehicle_id"] != "probe")
    expected = good_event_ids(params, now)
    assert set(ids) == expected, (
        f"missing {len(expected - set(ids))}, extra {len(set(ids) - expected)}"
    )
    assert len(ids) == summary.counts.accepted
    duplicates = sum(n - 1 for n in ids.values())
    print(f"{len(ids)} events, {duplicates} duplicates (removed downstream by event_id)")
