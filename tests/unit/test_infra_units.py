"""Pure pieces of the native stack: declarations, generated configs, PID bookkeeping."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil
import yaml

from transitstream.config import load_settings
from transitstream.db.migrate import migration_files
from transitstream.infra import kafka, prometheus
from transitstream.infra.process import Managed, clear_stale, port_owner, running_process
from transitstream.infra.topics import DAY_MS, declared_topics


def test_topic_declaration_covers_the_pipeline() -> None:
    s = load_settings()
    specs = {t.name: t for t in declared_topics(s)}
    assert {"vehicle.position.v1", "vehicle.position.dlq"} <= set(specs)
    assert specs["vehicle.position.v1"].partitions == s.topics.partitions
    assert specs["vehicle.position.dlq"].retention_ms == 30 * DAY_MS
    assert specs["vehicle.position.v1"].configs()["cleanup.policy"] == "delete"
    assert len(specs) == len(declared_topics(s))  # no name declared twice


def test_prometheus_config_scrapes_our_ports() -> None:
    s = load_settings()
    config = yaml.safe_load(prometheus.render_config(s))
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"][0] for job in config["scrape_configs"]
    }
    assert targets["kafka"].endswith(f":{s.kafka.metrics_port}")
    assert targets["registry"].endswith(f":{s.registry.port}")
    assert targets["ingest"].endswith(f":{s.ingest.port}")
    assert config["global"]["scrape_interval"] == s.prometheus.scrape_interval


def test_kafka_properties_follow_settings(tmp_path: Path) -> None:
    s = load_settings(state_dir=tmp_path)
    props = dict(
        line.split("=", 1) for line in kafka.server_properties(s).splitlines() if "=" in line
    )
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == (
        f"PLAINTEXT://{s.kafka.host}:{s.kafka.port},CONTROLLER://{s.kafka.host}:{s.kafka.controller_port}"
    )
    assert props["log.dirs"].startswith(str(tmp_path))
    assert props["transaction.state.log.replication.factor"] == "1"


def test_stale_pid_file_is_detected_and_cleared(tmp_path: Path) -> None:
    m = Managed("thing", tmp_path / "run", tmp_path / "logs", marker="a-marker-nobody-has")
    m.run_dir.mkdir()
    m.pid_file.write_text(str(os.getpid()))  # alive, but not ours: no marker in its cmdline
    assert running_process(m) is None
    assert clear_stale(m) is True
    assert not m.pid_file.exists()
    assert clear_stale(m) is False


def test_running_process_recognises_its_marker(tmp_path: Path) -> None:
    """This very process stands for a started one (the unit tier starts none): its PID with a
    word of its own command line is ours; the same PID with another marker is not."""
    m = Managed("me", tmp_path, tmp_path, marker=psutil.Process().cmdline()[-1])
    m.pid_file.write_text(str(os.getpid()))
    found = running_process(m)
    assert found is not None and found.pid == os.getpid()
    other = Managed("me", tmp_path, tmp_path, marker=f"not-in-my-command-line-{tmp_path.name}")
    assert running_process(other) is None  # a reused PID is not mistaken for ours


def test_port_owner_names_the_listener() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        owner = port_owner("127.0.0.1", port)
        assert owner is not None and (str(os.getpid()) in owner or "unknown" in owner)
    assert port_owner("127.0.0.1", port) is None


def test_migrations_are_numbered_and_unique() -> None:
    files = migration_files()
    assert files, "no migrations found"
    assert [f.name[:4] for f in files] == sorted(f.name[:4] for f in files)


def test_cluster_ids_are_valid_for_the_storage_tool() -> None:
    ids = {kafka.new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
