"""The Spark session's configuration, without a JVM."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from transitstream.config import load_settings
from transitstream.stream import pydaemon, session, source


def test_the_stream_thread_gets_a_stack_deep_enough_to_be_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopping a query mid-foreachBatch ran Spark's regex over the py4j error text and killed
    the stream thread with StackOverflowError on the default 1 MB stack."""
    monkeypatch.setattr(session, "spark_jars", lambda s: [Path("/jars/kafka.jar")])
    conf = session.spark_conf(load_settings(), "transitstream-test")
    assert "-Xss32m" in conf["spark.driver.extraJavaOptions"].split()
    assert conf["spark.jars"] == "/jars/kafka.jar"
    assert conf["spark.sql.session.timeZone"] == "UTC"


def test_python_workers_start_from_our_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "spark_jars", lambda s: [Path("/jars/kafka.jar")])
    conf = session.spark_conf(load_settings(), "transitstream-test")
    assert conf["spark.python.daemon.module"] == pydaemon.__name__


def test_the_daemon_drops_only_pyspark_archives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Python task calls importlib.invalidate_caches(), which re-reads every zip importer's
    archive: pyspark's zips and spark-core's jar cost ~0.1 s per task."""
    site = "/venv/lib/python3.11/site-packages"
    path = [
        "/work/main",
        f"{site}/pyspark/python/lib/pyspark.zip",
        f"{site}/pyspark/python/lib/py4j-0.10.9.9-src.zip",
        f"{site}/pyspark/jars/spark-core_2.13-4.0.0.jar",
        "/usr/lib/python311.zip",  # the standard library's own
        "/tmp/spark-x/userFiles-y/deps.zip",  # a user's --py-files
        site,
    ]
    cache = {
        f"{site}/pyspark/python/lib/pyspark.zip/pyspark/sql": object(),
        f"{site}/pyspark/jars/spark-core_2.13-4.0.0.jar/org": object(),
        site: object(),
    }
    monkeypatch.setattr(sys, "path", list(path))
    monkeypatch.setattr(sys, "path_importer_cache", dict(cache))
    dropped = pydaemon.drop_pyspark_archives()
    assert dropped == path[1:4]
    assert sys.path == [path[0], *path[4:]]
    assert list(sys.path_importer_cache) == [site]


@pytest.mark.parametrize(
    ("master", "setting", "expected"),
    [
        ("local[*]", None, os.cpu_count()),
        ("local[3]", None, 3),
        ("local[2,4]", None, 2),
        ("local", None, 1),
        ("spark://head:7077", None, session.CLUSTER_PARTITIONS),
        ("local[*]", 6, 6),
    ],
)
def test_one_shuffle_partition_per_local_core_unless_set(
    master: str, setting: int | None, expected: int
) -> None:
    spark = load_settings().spark.model_copy(
        update={"master": master, "shuffle_partitions": setting}
    )
    assert session.shuffle_partitions(spark) == expected


def test_the_kafka_source_does_not_wait_half_a_second_at_a_transaction_marker() -> None:
    """A batch that read to a partition's end (a commit marker, under read_committed) waited
    Kafka's default fetch.max.wait.ms of 500 ms there: the setting sets it, a caller's wins."""
    settings = load_settings().with_spark(fetch_max_wait_ms=20)
    options = source.source_options(settings, "t", "earliest", maxOffsetsPerTrigger="9")
    assert options["kafka.fetch.max.wait.ms"] == "20"
    assert options["kafka.isolation.level"] == "read_committed"
    assert options["subscribe"] == "t" and options["maxOffsetsPerTrigger"] == "9"
    mine = source.source_options(settings, "t", "latest", **{"kafka.fetch.max.wait.ms": "5"})
    assert mine["kafka.fetch.max.wait.ms"] == "5" and mine["startingOffsets"] == "latest"
    assert "kafka.fetch.max.wait.ms" not in source.kafka_options(settings)  # not the sink's
