"""The stream job on real Kafka and Spark, on a stack of its own (fresh topics, so every record
can be accounted for): ETAs for the stops ahead of every active vehicle, every injected anomaly
detected, and exactly-once output when the job is killed with -9 in the middle of its work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.isolated import isolated_stack
from transitstream.config import Settings, to_env
from transitstream.evaluate.job_output import score_job_output
from transitstream.gtfs import load_feed
from transitstream.simulate import RunSummary, SimParams, run
from transitstream.stream.run import run_job
from transitstream.stream.session import checkpoint_dir
from transitstream.stream.sink import checkpoint_id, last_committed
from transitstream.topic_reader import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KIND_OF = {"detour": "off_route", "stall": "stalled", "jump": "jump"}
YESTERDAY_EVENING = (datetime.now(UTC) - timedelta(days=1)).replace(
    hour=17, minute=46, second=0, microsecond=0
)
"""The fleet's clock: a fixed hour of full service, so the scenario does not change with the hour
CI runs at (within the ingestor's two days, so the events are accepted)."""


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with isolated_stack(tmp_path_factory.mktemp("stream") / "state", 26000) as settings:
        yield settings


@pytest.fixture(scope="module")
def fleet(own_stack: Settings) -> RunSummary:
    params = SimParams(
        vehicles=10, speedup=30, duration_s=40, realtime=False, seed=21,
        detours=2, stalls=2, jumps=2, bad_rate=0.0, not_json_rate=0.0,
        out_dir=own_stack.state_dir / "sim-stream",
    )  # fmt: skip
    summary = run(params, settings=own_stack, now=YESTERDAY_EVENING, quiet=True)
    assert summary.ok and summary.counts.accepted > 500
    return summary


def values(settings: Settings, topic: str) -> list[dict[str, Any]]:
    return [r.value for r in read_topic(settings, topic)]


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def test_etas_and_anomalies_from_a_simulated_run(own_stack: Settings, fleet: RunSummary) -> None:
    s = own_stack
    result = run_job(s, "all", available_now=True, serve_metrics=False)
    assert result.input_rows == fleet.counts.accepted

    positions = values(s, s.topics.position)
    enriched = values(s, s.topics.enriched)
    assert Counter(e["event_id"] for e in enriched).most_common(1)[0][1] == 1
    assert len(enriched) > 0.9 * len(positions)  # all but the skipped (jumps, layover noise)

    # ETAs: each vehicle's last fix on a trip predicts the stops still ahead of it.
    feed = load_feed(s.gtfs_path)
    etas = values(s, s.topics.eta)
    last_fix = {}
    for e in enriched:
        if e["next_stop_id"] is not None:
            last_fix[e["vehicle_id"]] = max(
                last_fix.get(e["vehicle_id"], e), e, key=lambda x: x["event_time"]
            )
    assert len(last_fix) >= 5
    for vehicle, fix in last_fix.items():
        made = [
            p for p in etas
            if p["vehicle_id"] == vehicle and p["prediction_time"] == fix["event_time"]
        ]  # fmt: skip
        stops = [st.stop_id for st in feed.stop_times[fix["trip_id"]]]
        ahead = stops[stops.index(fix["next_stop_id"]) :]
        assert [p["stop_id"] for p in sorted(made, key=lambda p: p["stop_sequence"])] == ahead
        assert all(p["predicted_time"] >= p["prediction_time"] for p in made)

    # The job's ETAs, read back from Kafka, beat the timetable on the same predictions: mean
    # error in every band with enough of them. (p90 is printed, not asserted: in a 20-minute
    # window with two 5-15 minute stalls among ten buses, the long-horizon tail is the stalls'.
    # `eval eta` asserts mean and p90 against both baselines on two hours of service.)
    score = score_job_output(s, fleet.out_dir)
    assert score.scored > 1000, score
    table = [(b.band, b.method, b.n, round(b.mean_s), round(b.p90_s)) for b in score.stats]
    print("job output vs timetable (band, method, n, mean s, p90 s):", table)
    assert score.beats_timetable(min_n=300, p90=False), table

    # Anomalies: every injected detour, stall and jump is found; false positives are reported.
    found = values(s, s.topics.anomaly)
    opened = [a for a in found if a["state"] in ("open", "instant")]
    missed = []
    for injected in fleet.anomalies:
        kind = KIND_OF[injected.kind]
        hit = [
            a for a in opened
            if a["vehicle_id"] == injected.vehicle_id and a["kind"] == kind
            and injected.start_ms - 60_000 <= ms(a["event_time"]) <= injected.end_ms + 600_000
        ]  # fmt: skip
        if not hit:
            missed.append(injected)
    seen = {
        m.vehicle_id: [
            (a["kind"], a["state"], a["event_time"])
            for a in found
            if a["vehicle_id"] == m.vehicle_id
        ]
        for m in missed
    }
    assert not missed, f"missed {missed}; reported for those vehicles: {seen}"
    injected_kinds = {(a.vehicle_id, KIND_OF[a.kind]) for a in fleet.anomalies}
    extra = Counter(a["kind"] for a in opened if (a["vehicle_id"], a["kind"]) not in injected_kinds)
    print(f"injected {len(fleet.anomalies)}, all found; other anomalies reported: {dict(extra)}")


def test_kill_minus_9_mid_stream_then_restart_is_exactly_once(own_stack: Settings) -> None:
    s = own_stack
    query = "stream-all"
    before = last_committed(s, query, _checkpoint_id(s, query))
    more = SimParams(
        vehicles=10, speedup=10, duration_s=25, realtime=True, seed=22,
        bad_rate=0.0, not_json_rate=0.0, detours=0, stalls=0, jumps=0,
        out_dir=s.state_dir / "sim-stream-2",
    )  # fmt: skip
    env = {**os.environ, **to_env(s), "TRANSITSTREAM_SPARK__TRIGGER_S": "1"}
    job = subprocess.Popen(
        [sys.executable, "-m", "transitstream.cli", "stream", "run", "all"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        summary = run(more, settings=s, now=datetime.now(UTC), quiet=True)
        assert summary.ok
        deadline = time.monotonic() + 120
        while last_committed(s, query, _checkpoint_id(s, query)) <= before:
            assert time.monotonic() < deadline, "the job committed no batch"
            time.sleep(0.5)
        mid_batch = wait_mid_batch(checkpoint_dir(s, query), timeout_s=60)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the driver and its Python workers
        job.wait(30)
    print(f"killed {'in the middle of' if mid_batch else 'between'} micro-batches")
    result = run_job(s, "all", available_now=True, serve_metrics=False)  # from the checkpoint

    positions = values(s, s.topics.position)
    enriched = values(s, s.topics.enriched)
    ids = Counter(e["event_id"] for e in enriched)
    assert ids.most_common(1)[0][1] == 1, "an enriched record was written twice"
    etas = Counter(
        (p["stop_sequence"], p["trip_id"], p["vehicle_id"], p["prediction_time"])
        for p in values(s, s.topics.eta)
    )  # a stop visit: loop trips call at some stops twice
    twice = [k for k, n in etas.items() if n > 1]
    assert not twice, f"ETAs written twice: {twice[:3]}"
    anomalies = Counter((a["anomaly_id"], a["state"]) for a in values(s, s.topics.anomaly))
    assert not anomalies or anomalies.most_common(1)[0][1] == 1
    known_route = {p["event_id"] for p in positions if p["route_id"]}
    assert len(set(ids) & known_route) > 0.9 * len(known_route)
    print(f"after kill -9 and restart: {result.skipped_replays} replayed batch(es) skipped")


def _checkpoint_id(s: Settings, query: str) -> str:
    return checkpoint_id(checkpoint_dir(s, query))


def wait_mid_batch(checkpoint: Path, timeout_s: float) -> bool:
    """True once Spark has planned a batch (offsets/N) it has not finished (no commits/N)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        planned = {p.name for p in (checkpoint / "offsets").glob("[0-9]*")}
        done = {p.name for p in (checkpoint / "commits").glob("[0-9]*")}
        if planned - done:
            return True
        time.sleep(0.02)
    return False
