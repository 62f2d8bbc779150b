"""Projectors against the real Kafka and Postgres of the session stack, on scratch topics of
their own: the read models hold the last record per key, replays change nothing, closed
anomalies stay closed, stale data goes, and a record that does not decode is dead-lettered
while the projector goes on."""

from __future__ import annotations

import random
import re
import time
import uuid
from datetime import timedelta

import pytest

from tests.integration.test_project_support import (
    T0,
    anomaly,
    checksums,
    dlq_records,
    end_offsets,
    enriched,
    eta,
    produce,
    produce_raw,
    rows,
    scratch,
    stored_offsets,
)
from transitstream.config import Settings
from transitstream.project.run import run

pytestmark = pytest.mark.integration


def fleet_records(prefix: str) -> tuple[list[dict], list[dict]]:
    """6 vehicles x 8 fixes, and 4 predictions per fix for the stops ahead, shuffled within each
    vehicle (out of order on its partition)."""
    rng = random.Random(7)
    fixes, etas = [], []
    for v in range(6):
        vehicle = f"{prefix}-{v:03d}"
        mine = [enriched(vehicle, T0 + timedelta(seconds=20 * i), next_seq=3) for i in range(8)]
        rng.shuffle(mine)
        fixes += mine
        for fix in mine:
            etas += [eta(vehicle, seq, fix["event_time"]) for seq in range(3, 7)]
    return fixes, etas


def last_per_key(records: list[dict], key: tuple[str, ...], order: str) -> dict[tuple, dict]:
    out: dict[tuple, dict] = {}
    for r in records:
        k = tuple(r[c] for c in key)
        if k not in out or r[order] > out[k][order]:
            out[k] = r
    return out


@pytest.fixture
def prefix() -> str:
    return f"pj{uuid.uuid4().hex[:6]}"


@pytest.fixture
def scratch_stack(stack: Settings) -> Settings:
    return scratch(stack)


def test_read_models_hold_the_last_record_per_key(scratch_stack: Settings, prefix: str) -> None:
    s = scratch_stack
    fixes, etas = fleet_records(prefix)
    produce(s, s.topics.enriched, fixes, "vehicle_id")
    produce(s, s.topics.eta, etas, "stop_id")
    result = run(s, "all", stop_at_end=True, now=lambda: T0)
    assert result.records == len(fixes) + len(etas)

    want = last_per_key(fixes, ("vehicle_id",), "event_time")
    got = rows(
        s,
        "SELECT vehicle_id, lat, lon, event_time, event_id, delay_s, stale FROM vehicle_state"
        " WHERE vehicle_id LIKE %s ORDER BY vehicle_id",
        f"{prefix}-%",
    )
    assert [r[0] for r in got] == sorted(k[0] for k in want)
    for vehicle, lat, lon, event_time, event_id, delay_s, stale in got:
        w = want[(vehicle,)]
        assert (lat, lon, event_time, event_id, delay_s, stale) == (
            w["lat"], w["lon"], w["event_time"], w["event_id"], 30, False
        )  # fmt: skip

    want_eta = last_per_key(etas, ("vehicle_id", "trip_id", "stop_sequence"), "prediction_time")
    got_eta = rows(
        s,
        "SELECT vehicle_id, trip_id, stop_sequence, prediction_time, predicted_time FROM stop_eta"
        " WHERE vehicle_id LIKE %s",
        f"{prefix}-%",
    )
    assert {r[:3]: r[3:] for r in got_eta} == {
        k: (v["prediction_time"], v["predicted_time"]) for k, v in want_eta.items()
    }
    # every partition's stored offset is its end: nothing skipped, nothing left
    ends = {**end_offsets(s, s.topics.enriched), **end_offsets(s, s.topics.eta)}
    assert stored_offsets(s, s.topics.enriched, s.topics.eta) == ends


def test_replaying_duplicates_out_of_order_changes_nothing(
    scratch_stack: Settings, prefix: str
) -> None:
    s = scratch_stack
    fixes, etas = fleet_records(prefix)
    produce(s, s.topics.enriched, fixes, "vehicle_id")
    produce(s, s.topics.eta, etas, "stop_id")
    run(s, "all", stop_at_end=True, now=lambda: T0)
    before = checksums(s, prefix)
    revision = rows(
        s, "SELECT max(revision) FROM vehicle_state WHERE vehicle_id LIKE %s", f"{prefix}-%"
    )

    again = fixes + random.Random(3).sample(fixes, len(fixes))  # every record, twice, reshuffled
    produce(s, s.topics.enriched, list(reversed(again)), "vehicle_id")
    produce(s, s.topics.eta, random.Random(4).sample(etas, len(etas)), "stop_id")
    second = run(s, "all", stop_at_end=True, now=lambda: T0)
    assert second.records == 2 * len(fixes) + len(etas)  # read from the stored offsets on
    assert second.upserted.get("vehicle_state", 0) == second.upserted.get("stop_eta", 0) == 0
    assert checksums(s, prefix) == before
    assert revision == rows(
        s, "SELECT max(revision) FROM vehicle_state WHERE vehicle_id LIKE %s", f"{prefix}-%"
    )  # no row was rewritten, so the API has nothing to push

    # the whole log once more from offset 0 (the offsets forgotten): still the same
    rows(s, "DELETE FROM projector_offsets WHERE topic = ANY(%s) RETURNING 1", [s.topics.eta])
    run(s, "etas", stop_at_end=True, now=lambda: T0)
    assert checksums(s, prefix) == before


def test_a_closed_anomaly_is_not_reopened_by_its_older_open_record(
    scratch_stack: Settings, prefix: str
) -> None:
    s = scratch_stack
    vehicle = f"{prefix}-001"
    opened, closed = T0 + timedelta(seconds=60), T0 + timedelta(seconds=400)
    produce(s, s.topics.anomaly, [anomaly(vehicle, "closed", closed, opened)], "vehicle_id")
    run(s, "anomalies", stop_at_end=True)
    produce(s, s.topics.anomaly, [anomaly(vehicle, "open", opened)], "vehicle_id")
    run(s, "anomalies", stop_at_end=True)
    got = rows(
        s,
        "SELECT state, opened_at, closed_at, event_time FROM vehicle_anomaly WHERE vehicle_id = %s",
        vehicle,
    )
    assert got == [("closed", opened, closed, closed)]


def test_stale_etas_go_and_silent_vehicles_are_flagged(
    scratch_stack: Settings, prefix: str
) -> None:
    s = scratch_stack
    a, b = f"{prefix}-001", f"{prefix}-002"
    t1 = T0 + timedelta(seconds=60)
    produce(
        s,
        s.topics.enriched,
        [enriched(a, t1, next_seq=5), enriched(b, T0, trip="T2", next_seq=2)],
        "vehicle_id",
    )
    etas = [eta(a, 4, T0), eta(a, 5, T0), eta(a, 6, T0, ahead_s=3600)]  # 4 is behind a now
    etas += [eta(b, 3, T0 - timedelta(seconds=30), trip="T1")]  # b has started another trip
    etas += [eta(b, 3, T0, trip="T2", ahead_s=30)]  # predicted for T0+30 s
    produce(s, s.topics.eta, etas, "stop_id")
    (before,) = rows(s, "SELECT coalesce(max(revision), 0) FROM stop_eta_removed")[0]
    run(s, "all", stop_at_end=True, now=lambda: T0)
    # a deletion leaves no row to carry a revision: the stops are logged with one (the API
    # redoes their boards)
    logged = rows(s, "SELECT stop_id FROM stop_eta_removed WHERE revision > %s", before)
    assert {"S4", "S3"} <= {stop for (stop,) in logged}

    def state() -> tuple[list, list]:
        return (
            rows(
                s,
                "SELECT vehicle_id, trip_id, stop_sequence FROM stop_eta WHERE vehicle_id LIKE %s"
                " ORDER BY 1, 2, 3",
                f"{prefix}-%",
            ),
            rows(
                s,
                "SELECT vehicle_id, stale FROM vehicle_state WHERE vehicle_id LIKE %s ORDER BY 1",
                f"{prefix}-%",
            ),
        )

    assert state() == ([(a, "T1", 5), (a, "T1", 6), (b, "T2", 3)], [(a, False), (b, False)])
    # 3 minutes later (+ the 60 s grace): b's ETA has passed, b is silent for 180 s
    later = T0 + timedelta(seconds=s.project.stale_after_s + 1)
    run(s, "vehicles", stop_at_end=True, now=lambda: later)
    assert state() == ([(a, "T1", 5), (a, "T1", 6)], [(a, False), (b, True)])
    produce(s, s.topics.enriched, [enriched(b, later, trip="T2", next_seq=4)], "vehicle_id")
    run(s, "vehicles", stop_at_end=True, now=lambda: later)  # b reports again
    assert state()[1] == [(a, False), (b, False)]


def test_an_undecodable_record_goes_to_the_dlq_and_the_projector_goes_on(
    scratch_stack: Settings, prefix: str
) -> None:
    s = scratch_stack
    produce(s, s.topics.enriched, [enriched(f"{prefix}-001", T0)], "vehicle_id")
    bad = [(b"k1", b"not avro at all"), (b"k2", b"\x00\x7f\xff\xff\xf0garbage")]  # unknown id
    produce_raw(s, s.topics.enriched, bad)
    produce(s, s.topics.enriched, [enriched(f"{prefix}-002", T0)], "vehicle_id")
    result = run(s, "vehicles", stop_at_end=True, now=lambda: T0)

    assert result.dead_letters == 2 and result.records == 4
    assert [r[0] for r in rows(
        s, "SELECT vehicle_id FROM vehicle_state WHERE vehicle_id LIKE %s ORDER BY 1", f"{prefix}-%"
    )] == [f"{prefix}-001", f"{prefix}-002"]  # fmt: skip
    assert sorted(r.value for r in dlq_records(s)) == sorted(v for _, v in bad)
    ends = end_offsets(s, s.topics.enriched)
    assert stored_offsets(s, s.topics.enriched) == ends  # moved past the bad records


def test_dead_letters_carry_reason_and_origin(scratch_stack: Settings) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    s = scratch_stack
    produce_raw(s, s.topics.enriched, [(b"k1", b'{"not": "avro"}')])
    run(s, "vehicles", stop_at_end=True, now=lambda: T0)
    consumer = Consumer(s.kafka_config(**{"group.id": "t", "enable.auto.commit": False}))
    consumer.assign([TopicPartition(s.topics.projector_dlq, 0, OFFSET_BEGINNING)])
    try:
        msg = consumer.poll(10)
        assert msg is not None and msg.error() is None
        headers = dict(msg.headers() or [])
    finally:
        consumer.close()
    assert headers["reason"] == b"decode" and b"SerializationError" in headers["error"]
    assert headers["source.topic"] == s.topics.enriched.encode()
    assert headers["source.key"] == b"k1" and msg.value() == b'{"not": "avro"}'
    assert msg.key() == f"{s.topics.enriched}/{int(headers['source.partition'])}/0".encode()


def test_the_fast_decoder_reads_what_the_reference_deserializer_reads(
    scratch_stack: Settings, prefix: str
) -> None:
    from confluent_kafka.serialization import MessageField, SerializationContext

    from transitstream import schemas
    from transitstream.project.source import Decoder

    s = scratch_stack
    client = schemas.registry_client(s)
    reference, fast = schemas.deserializer(client), Decoder(client)
    samples = {
        s.topics.enriched: [enriched(f"{prefix}-1", T0), enriched(f"{prefix}-2", T0, trip=None)],
        s.topics.eta: [
            eta(f"{prefix}-1", 3, T0),
            {**eta(f"{prefix}-1", 4, T0), "scheduled_time": None},
        ],
        s.topics.anomaly: [anomaly(f"{prefix}-1", "closed", T0, T0 - timedelta(seconds=90))],
    }
    for topic, values in samples.items():
        ctx = SerializationContext(topic, MessageField.VALUE)
        serialize = schemas.serializer(client, s, topic)
        for value in values:
            raw = serialize(value, ctx)
            assert raw is not None
            assert fast(raw, ctx) == reference(raw, ctx) == value


def test_the_projector_serves_metrics_and_health(scratch_stack: Settings, prefix: str) -> None:
    import threading

    import httpx

    s = scratch_stack
    produce(s, s.topics.enriched, [enriched(f"{prefix}-001", T0)], "vehicle_id")
    stop = threading.Event()
    box: dict = {}
    worker = threading.Thread(
        target=lambda: box.update(r=run(s, "vehicles", serve_metrics=True, stop=stop))
    )
    worker.start()
    try:
        url = s.project.url
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        while (
            time.monotonic() < deadline
            and not box
            and not rows(s, "SELECT 1 FROM vehicle_state WHERE vehicle_id = %s", f"{prefix}-001")
        ):
            time.sleep(0.2)
        health = httpx.get(f"{url}/healthz", timeout=2)
        body = httpx.get(f"{url}/metrics", timeout=2).text
    finally:
        stop.set()
        worker.join(30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    # samples of this run (a metric's HELP/TYPE lines are there from import on: they prove nothing)
    assert 'projector_rows_upserted_total{table="vehicle_state"}' in body
    assert f'projector_records_total{{topic="{s.topics.enriched}"}} 1.0' in body
    batches = re.search(r"^projector_batch_seconds_count ([0-9.e+]+)$", body, re.M)
    assert batches and float(batches.group(1)) >= 1
    assert box["r"].upserted.get("vehicle_state") == 1
