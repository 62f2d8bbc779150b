"""`transitstream infra up | status | down` as a user runs them, on a stack of its own.

Up, status, down, up again: the data written before `down` is still there, and a second `up`
changes nothing (same PIDs, nothing created).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.isolated import isolated_env, settings_of
from transitstream.config import to_env
from transitstream.infra.process import port_owner, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    env = isolated_env(tmp_path_factory.mktemp("lifecycle") / "state", 24000)
    yield env
    cli(env, "infra", "down")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "transitstream.cli", *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def status_json(env: dict[str, str]) -> dict[str, dict[str, object]]:
    done = cli(env, "infra", "status", "--json")
    return {row["name"]: row for row in json.loads(done.stdout)}


def test_up_status_down_up_keeps_data(own_env: dict[str, str]) -> None:
    settings = settings_of(own_env)

    first = cli(own_env, "infra", "up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created topics" in first.stdout
    rows = status_json(own_env)
    assert set(rows) == {"postgres", "kafka", "registry", "prometheus"}
    assert all(r["ready"] for r in rows.values()), rows
    total_mb = sum(float(r["rss_mb"]) for r in rows.values())  # type: ignore[arg-type]
    assert 0 < total_mb < 3072, f"idle stack uses {total_mb} MB"

    # A second `up` changes nothing: same processes, nothing created.
    pids = {name: r["pid"] for name, r in rows.items()}
    second = cli(own_env, "infra", "up")
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout and "applied" not in second.stdout
    assert second.stdout.count("already running") == 4
    assert {n: r["pid"] for n, r in status_json(own_env).items()} == pids

    # Write something into each stateful part.
    marker = uuid.uuid4().hex
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        conn.execute("CREATE TABLE lifecycle_probe (v text)")
        conn.execute("INSERT INTO lifecycle_probe VALUES (%s)", [marker])
    producer = Producer(settings.kafka_config(**{"enable.idempotence": True}))
    producer.produce(settings.topics.position_dlq, value=marker.encode())
    assert producer.flush(30) == 0
    schema = {"type": "record", "name": "Probe", "fields": [{"name": "v", "type": "string"}]}
    registered = httpx.post(
        f"{settings.registry.url}/subjects/probe-value/versions",
        json={"schema": json.dumps(schema)},
    )
    assert registered.status_code == 200, registered.text

    down = cli(own_env, "infra", "down")
    assert down.returncode == 0, down.stderr
    assert not any(r["running"] for r in status_json(own_env).values())
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)  # type: ignore[arg-type]

    again = cli(own_env, "infra", "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created topics" not in again.stdout
    with psycopg.connect(settings.postgres.conninfo()) as conn:
        assert conn.execute("SELECT v FROM lifecycle_probe").fetchall() == [(marker,)]
    consumer = Consumer(settings.kafka_config(**{"group.id": marker, "enable.auto.commit": False}))
    try:
        consumer.assign([TopicPartition(settings.topics.position_dlq, 0, 0)])
        values = []
        for _ in range(30):
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
            if marker.encode() in values:
                break
        assert marker.encode() in values
    finally:
        consumer.close()
    subjects = httpx.get(f"{settings.registry.url}/subjects").json()
    assert "probe-value" in subjects


def test_stale_pid_file_and_foreign_port(own_env: dict[str, str], tmp_path: Path) -> None:
    settings = settings_of(own_env)
    cli(own_env, "infra", "down")
    run_dir = settings.state_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    # A PID that is surely not ours: our own test process.
    (run_dir / "prometheus.pid").write_text(str(os.getpid()))
    # Someone else holds the Prometheus port.
    squatter = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(settings.prometheus.port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: port_owner("127.0.0.1", settings.prometheus.port), 10)
        done = cli(own_env, "infra", "up")
        assert done.returncode == 1
        assert "Traceback" not in done.stderr
        assert "stale PID file" in done.stdout
        assert f"port {settings.prometheus.port}" in done.stderr
        assert "TRANSITSTREAM_PROMETHEUS__PORT" in done.stderr
        assert "still running" in done.stderr  # the half-started stack is named
        assert os.path.exists(f"/proc/{os.getpid()}")  # down never killed the foreign PID
    finally:
        squatter.send_signal(signal.SIGTERM)
        squatter.wait(10)
    fixed = cli(own_env, "infra", "up")
    assert fixed.returncode == 0, fixed.stderr


def test_missing_java_is_explained(own_env: dict[str, str]) -> None:
    cli(own_env, "infra", "down")
    env = {**own_env, "TRANSITSTREAM_JAVA": "no-such-java", "JAVA_HOME": "/nonexistent"}
    done = cli(env, "infra", "up")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "Java 17+ is not installed" in done.stderr
    assert "apt-get install openjdk-17-jre-headless" in done.stderr


def test_malformed_setting_is_named(own_env: dict[str, str]) -> None:
    done = cli({**own_env, "TRANSITSTREAM_KAFKA__PORT": "ninety"}, "infra", "status")
    assert done.returncode == 1
    assert "TRANSITSTREAM_KAFKA__PORT='ninety'" in done.stderr
    assert "Traceback" not in done.stderr


def test_to_env_round_trips(own_env: dict[str, str]) -> None:
    settings = settings_of(own_env)
    assert settings_of(to_env(settings)) == settings
