"""The whole path on a stack of its own (ports 29000+, killed processes must not disturb the
session stack): simulate -> ingest -> Spark -> projectors; a projector killed with -9 in the
middle of its work resumes from the offsets it stored, skipping nothing; a rebuild from the log
equals the live projection; a rebuilt table is a normal table again (revisions, index names)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.test_project_support import end_offsets, rows, stored_offsets
from tests.isolated import isolated_stack, small_batches
from transitstream.config import Settings, project_root, to_env
from transitstream.db.migrate import connect
from transitstream.project.checksum import table_checksums
from transitstream.project.direct import write_records
from transitstream.project.rebuild import rebuild
from transitstream.project.run import run
from transitstream.project.stale import sweep
from transitstream.simulate import SimParams
from transitstream.simulate import run as simulate
from transitstream.stream.run import run_job
from transitstream.topic_reader import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BASE = 29000  # below 32768 (tests/isolated.py); 24000-28000 and 31000 are taken
STATE = project_root() / ".transitstream" / "test-project-recovery"


@pytest.fixture(scope="module")
def own_stack() -> Iterator[Settings]:
    shutil.rmtree(STATE, ignore_errors=True)  # fresh topics: every record is accounted for
    with isolated_stack(STATE / "state", BASE) as settings:
        yield settings


@pytest.fixture(scope="module")
def streamed(own_stack: Settings) -> Settings:
    """A small simulated fleet through the ingestor and the Spark job (as notebook 02 does)."""
    s = own_stack
    params = SimParams(
        vehicles=6, speedup=30, duration_s=20, realtime=False, seed=31,
        detours=1, stalls=1, jumps=1, bad_rate=0.0, not_json_rate=0.0,
        vehicle_prefix="rec", out_dir=s.state_dir / "sim-project",
    )  # fmt: skip
    assert simulate(params, settings=s, now=datetime.now(UTC), quiet=True).ok
    result = run_job(small_batches(s), "all", available_now=True, serve_metrics=False)
    assert result.rows_written.get("eta", 0) > 300
    return s


def last_per_key(settings: Settings, topic: str, key: tuple[str, ...], order: str) -> dict:
    out: dict[tuple, dict] = {}
    for r in read_topic(settings, topic):
        k = tuple(r.value[c] for c in key)
        if k not in out or r.value[order] > out[k][order]:
            out[k] = r.value
    return out


def all_ends(s: Settings) -> dict[tuple[str, int], int]:
    return {**end_offsets(s, s.topics.enriched), **end_offsets(s, s.topics.eta),
            **end_offsets(s, s.topics.anomaly)}  # fmt: skip


def checksum_at(s: Settings, now: datetime) -> dict[str, tuple[int, str]]:
    with connect(s) as conn:
        conn.autocommit = True
        sweep(conn, s, now)
        return table_checksums(conn)


def forget(s: Settings) -> None:
    """Empty read models and no stored offsets: the next projector starts from offset 0."""
    with connect(s) as conn:
        conn.execute("TRUNCATE vehicle_state, stop_eta, vehicle_anomaly")
        conn.execute("DELETE FROM projector_offsets")


def test_a_simulated_run_projects_the_last_record_of_every_key(streamed: Settings) -> None:
    s = streamed
    forget(s)
    result = run(s, "all", stop_at_end=True, sweep=False)
    assert result.dead_letters == 0 and result.records > 300

    want = last_per_key(s, s.topics.enriched, ("vehicle_id",), "event_time")
    got = rows(
        s, "SELECT vehicle_id, lat, lon, event_time, trip_id, next_stop_sequence FROM vehicle_state"
    )
    assert {r[0]: r[1:] for r in got} == {
        k[0]: (v["lat"], v["lon"], v["event_time"], v["trip_id"], v["next_stop_sequence"])
        for k, v in want.items()
    }
    want_eta = last_per_key(
        s, s.topics.eta, ("vehicle_id", "trip_id", "stop_sequence"), "prediction_time"
    )
    got_eta = rows(
        s,
        "SELECT vehicle_id, trip_id, stop_sequence, predicted_time, prediction_time FROM stop_eta",
    )
    assert {r[:3]: r[3:] for r in got_eta} == {
        k: (v["predicted_time"], v["prediction_time"]) for k, v in want_eta.items()
    }
    opened = {r.value["anomaly_id"] for r in read_topic(s, s.topics.anomaly)}
    assert {r[0] for r in rows(s, "SELECT anomaly_id FROM vehicle_anomaly")} == opened
    assert stored_offsets(s, s.topics.enriched, s.topics.eta, s.topics.anomaly) == all_ends(s)


def test_kill_minus_9_mid_run_then_restart_skips_nothing_and_equals_a_rebuild(
    streamed: Settings,
) -> None:
    s = streamed
    forget(s)
    total = sum(all_ends(s).values())
    env = {**os.environ, **to_env(s), "TRANSITSTREAM_PROJECT__BATCH_MAX": "50"}
    projector = subprocess.Popen(
        [sys.executable, "-m", "transitstream.cli", "project", "run", "all"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        done = 0
        while done < total // 5:  # well into its work
            assert time.monotonic() < deadline, "the projector committed no batch"
            assert projector.poll() is None, "the projector exited"
            time.sleep(0.02)
            done = sum(
                stored_offsets(s, s.topics.enriched, s.topics.eta, s.topics.anomaly).values()
            )
    finally:
        os.killpg(projector.pid, signal.SIGKILL)
        projector.wait(30)
    at_kill = sum(stored_offsets(s, s.topics.enriched, s.topics.eta, s.topics.anomaly).values())
    assert 0 < at_kill < total, "killed before or after its work, not in the middle"

    run(s, "all", stop_at_end=True, sweep=False)  # restarts from the stored offsets
    assert stored_offsets(s, s.topics.enriched, s.topics.eta, s.topics.anomaly) == all_ends(s)
    now = max(
        v["event_time"]
        for v in last_per_key(s, s.topics.enriched, ("vehicle_id",), "event_time").values()
    )
    live = checksum_at(s, now)

    result = rebuild(s, now=lambda: now, show_progress=False)
    topics = (s.topics.enriched, s.topics.eta, s.topics.anomaly)
    assert result.records == sum(len(read_topic(s, t)) for t in topics)  # each committed one
    assert checksum_at(s, now) == live
    assert stored_offsets(s, s.topics.enriched, s.topics.eta, s.topics.anomaly) == all_ends(s)
    print(f"killed after {at_kill} of {total} offsets; rebuild {result.rate:,.0f} records/s")


def indexes(s: Settings) -> list[tuple[Any, ...]]:
    return rows(
        s,
        "SELECT tablename, indexname FROM pg_indexes WHERE tablename IN"
        " ('vehicle_state', 'stop_eta', 'vehicle_anomaly') ORDER BY 1, 2",
    )


def test_a_rebuilt_table_is_a_normal_table(streamed: Settings) -> None:
    s = streamed
    names = indexes(s)
    assert ("vehicle_state", "vehicle_state_revision") in names
    rebuild(s, "vehicles", show_progress=False)
    rebuild(s, "vehicles", show_progress=False)  # twice: names must not drift
    assert indexes(s) == names
    assert not rows(s, "SELECT 1 FROM pg_tables WHERE tablename LIKE '%%__rebuild'")
    top = rows(s, "SELECT max(revision) FROM vehicle_state")[0][0]
    fix = {
        "event_id": "e-new", "vehicle_id": "rec-new", "lat": 35.0, "lon": -85.3,
        "event_time": datetime.now(UTC) + timedelta(days=1),
    }  # fmt: skip
    with connect(s) as conn:
        conn.autocommit = True
        assert write_records(conn, {"vehicles": [fix]}) == {"vehicle_state": 1}
    assert rows(s, "SELECT revision > %s FROM vehicle_state WHERE vehicle_id = 'rec-new'", top) == [
        (True,)
    ]


def test_a_rebuild_beside_a_running_projector_leaves_no_gap(streamed: Settings) -> None:
    """Records keep coming and a live projector keeps writing while the rebuild runs; every
    record is a new row, so one the swap lost would be missing from the final tables."""
    import threading

    from confluent_kafka import Producer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from tests.integration.test_project_support import enriched, eta
    from transitstream import schemas

    s = streamed
    client = schemas.registry_client(s)
    schemas.register_all(client, s)
    now = datetime.now(UTC)
    stop_live, stop_feed = threading.Event(), threading.Event()
    box: dict[str, Any] = {}
    live = threading.Thread(target=lambda: box.update(r=run(s, "all", stop=stop_live, sweep=False)))

    def feed() -> None:
        producer = Producer(s.kafka_config(**{"transactional.id": "test-project-feed"}))
        producer.init_transactions(30)
        ser = {t: schemas.serializer(client, s, t) for t in (s.topics.enriched, s.topics.eta)}
        i = 0
        while not stop_feed.is_set():
            t = now + timedelta(seconds=i)
            producer.begin_transaction()
            for topic, value in (
                (s.topics.enriched, enriched(f"gap-{i:04d}", t)),
                (s.topics.eta, eta(f"gap-{i % 3}", 10 + i, t)),
            ):
                ctx = SerializationContext(topic, MessageField.VALUE)
                producer.produce(
                    topic, key=value["vehicle_id"].encode(), value=ser[topic](value, ctx)
                )
            producer.commit_transaction(30)
            box["fed"] = i = i + 1
            time.sleep(0.02)

    feeder = threading.Thread(target=feed)
    live.start()
    feeder.start()
    try:
        time.sleep(2)
        rebuilt = rebuild(s, now=lambda: now, show_progress=False)
        time.sleep(2)
    finally:
        stop_feed.set()
        feeder.join(30)
    deadline = time.monotonic() + 60
    while stored_offsets(s, s.topics.enriched, s.topics.eta, s.topics.anomaly) != all_ends(s):
        assert time.monotonic() < deadline, "the live projector did not catch up"
        time.sleep(0.2)
    stop_live.set()
    live.join(30)
    fed = box["fed"]
    assert fed > 20 and rebuilt.records > 0
    gap = rows(s, "SELECT count(*) FROM vehicle_state WHERE vehicle_id LIKE 'gap-%%'")[0][0]
    assert gap == fed
    during = checksum_at(s, now)
    rebuild(s, now=lambda: now, show_progress=False)  # quietly, from the same log
    assert checksum_at(s, now) == during


def test_the_swap_reads_on_to_where_a_live_projector_got(streamed: Settings) -> None:
    """Deterministic: the replay reaches the end it saw, then new records come and a live
    projector writes them (its stored offsets pass the replay's), then the swap. Without the
    read-on under the lock those records would be missing from the swapped-in tables."""
    from tests.integration.test_project_support import enriched, produce
    from transitstream import schemas
    from transitstream.project import source, swap
    from transitstream.project.rebuild import Replay, finish
    from transitstream.project.tables import select

    s = streamed
    schemas.register_all(schemas.registry_client(s), s)
    run(s, "all", stop_at_end=True, sweep=False)
    now = datetime.now(UTC)
    tables = select("all")
    pool = source.open_pool(s, "test-rebuild")
    replay = Replay(s, tables, pool)
    try:
        with pool.connection() as conn:
            swap.create_shadows(conn, tables)
        replay.read_until(replay.ends, None, timeout_s=60)
        late = [enriched(f"late-{i:03d}", now + timedelta(seconds=i)) for i in range(30)]
        produce(s, s.topics.enriched, late, "vehicle_id")
        run(s, "all", stop_at_end=True, sweep=False)  # the live projector is now ahead
        finish(replay, lambda: now)
    finally:
        replay.consumer.close()
        pool.close()
    got = rows(s, "SELECT count(*) FROM vehicle_state WHERE vehicle_id LIKE 'late-%%'")[0][0]
    assert got == len(late)
    assert stored_offsets(s, s.topics.enriched, s.topics.eta, s.topics.anomaly) == all_ends(s)
