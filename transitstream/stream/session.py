"""The one way to build a SparkSession: pinned connector jars, Settings-sized, UTC, quiet.

PySpark (from PyPI) brings Spark; the Kafka connector and spark-avro come from the pinned Maven
file (`infra/jvm/spark/pom.xml`, resolved by `make setup`) and go on `spark.jars` as local paths,
so no job downloads anything when it starts. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from transitstream.config import Settings, SparkSettings
from transitstream.errors import TransitStreamError
from transitstream.infra.java import checked_java, java_home, spark_jars

QUERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
STREAM_THREAD_STACK = "32m"


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[") or master.startswith("local-")


LOCAL_THREADS = re.compile(r"^local\[(\*|\d+)(?:,\d+)?\]$")
CLUSTER_PARTITIONS = 8


def shuffle_partitions(s: SparkSettings) -> int:
    """The setting, else one partition per core of a local master: every partition is a Python
    task of the stateful step, ~0.2 s each however little it holds, so more tasks than cores
    only queue (measured on 2 cores: 2 kept up with 7,500 positions/s, 4 with 5,000)."""
    if s.shuffle_partitions is not None:
        return s.shuffle_partitions
    if s.master == "local":
        return 1
    threads = LOCAL_THREADS.match(s.master)
    if threads is None:
        return CLUSTER_PARTITIONS
    return (os.cpu_count() or 1) if threads.group(1) == "*" else int(threads.group(1))


def spark_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """Every option the session is built with, in one place (and testable without a JVM)."""
    s = settings.spark
    conf = {
        "spark.app.name": app_name,
        "spark.master": s.master,
        "spark.jars": ",".join(str(j) for j in spark_jars(settings)),
        "spark.driver.memory": s.driver_memory,
        "spark.sql.shuffle.partitions": str(shuffle_partitions(s)),
        "spark.sql.session.timeZone": "UTC",
        # keep spark-warehouse/ out of whatever folder the job was started from
        "spark.sql.warehouse.dir": str(settings.state_dir / "spark" / "warehouse"),
        "spark.ui.enabled": str(s.ui_enabled or s.metrics_port is not None).lower(),
        "spark.ui.port": str(s.metrics_port or s.ui_port),
        "spark.ui.showConsoleProgress": "false",
        # Stopping a query while foreachBatch runs (Ctrl+C, SIGTERM, `infra down`) makes Spark
        # match a regex over the whole py4j error text (SPARK-39218/SPARK-48717); Java's regex
        # recurses per character, and on the default 1 MB thread stack the stream thread died of
        # StackOverflowError (reproduced at every such stop). Stacks are reserved, not resident.
        "spark.driver.extraJavaOptions": f"-Xss{STREAM_THREAD_STACK}",
        # pyspark's daemon, minus pyspark's zips/jar on sys.path: ~0.1 s less per Python task
        "spark.python.daemon.module": "transitstream.stream.pydaemon",
    }
    if is_local(s.master):
        # one machine: every socket Spark opens stays on loopback
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    if s.metrics_port is not None:
        # Prometheus scrapes <ui>/metrics/prometheus/ (driver, streaming queries) and
        # <ui>/metrics/executors/prometheus; app_name names the series (not the random app id)
        servlet = "spark.metrics.conf.*.sink.prometheusServlet"
        conf |= {
            f"{servlet}.class": "org.apache.spark.metrics.sink.PrometheusServlet",
            f"{servlet}.path": "/metrics/prometheus",
            "spark.ui.prometheus.enabled": "true",
            "spark.sql.streaming.metricsEnabled": "true",
            "spark.metrics.namespace": app_name,
        }
    return conf


def _ensure_java_home(settings: Settings) -> None:
    """pyspark's launcher finds Java through JAVA_HOME (else PATH): point it at the checked one."""
    java = checked_java(settings)  # raises with the install command when Java is missing/old
    home = os.environ.get("JAVA_HOME")
    if not home or not (Path(home) / "bin" / "java").is_file():
        os.environ["JAVA_HOME"] = str(java_home(java))


def spark_session(settings: Settings, app_name: str) -> SparkSession:
    """Build (or join) this process's SparkSession, configured from Settings.

    JVM-level options (jars, memory, master) are fixed by the first session of a process;
    joining one that lacks the pinned jars is an error rather than a later, obscure
    `Failed to find data source: kafka` (or a missing `from_avro`).
    """
    conf = spark_conf(settings, app_name)
    _ensure_java_home(settings)
    # pyspark hands the workers' Python to the JVM from this variable (a `spark.pyspark.python`
    # conf is not read in-process); they must be ours: the group function and the output
    # encoders import transitstream and fastavro
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if is_local(settings.spark.master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    jars = spark.sparkContext.getConf().get("spark.jars", "") or ""
    if not all(j in jars for j in conf["spark.jars"].split(",")):
        raise TransitStreamError(
            "a SparkSession without the pinned jars (Kafka connector, spark-avro) already runs "
            "in this process: stop it (`spark.stop()`) or restart the kernel, then call "
            "spark_session again."
        )
    spark.sparkContext.setLogLevel(settings.spark.log_level)
    return spark


def checkpoint_dir(settings: Settings, query_name: str) -> Path:
    """The checkpoint folder of one streaming query: its offsets, commits and state.

    Each query owns its folder (no global `spark.sql.streaming.checkpointLocation`): two queries
    sharing one would corrupt each other, and deleting one folder resets exactly one query.
    """
    if not QUERY_NAME.match(query_name):
        raise TransitStreamError(
            f"query name {query_name!r} must be letters, digits, '.', '_' or '-' "
            "(it names a folder)."
        )
    return settings.spark.checkpoint_root / query_name
