"""Apache Kafka in KRaft mode: one process that is both broker and controller.

Heap is fixed (Settings.kafka.heap_mb, 512 MB by default) because an unbounded JVM is the usual
reason a learner's laptop swaps; the JMX exporter agent gives Prometheus the broker's metrics.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from transitstream.config import Settings
from transitstream.errors import InfraError
from transitstream.infra.component import Component, Launch, Port
from transitstream.infra.java import checked_java, jmx_agent, kafka_jars
from transitstream.infra.topics import declared_topics, ensure_topics

JMX_RULES = """\
lowercaseOutputName: true
rules:
  - pattern: ".*"
"""

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.clients.name = org.apache.kafka
logger.clients.level = WARN
"""


def home(settings: Settings) -> Path:
    return settings.state_dir / "kafka"


def properties_file(settings: Settings) -> Path:
    return home(settings) / "server.properties"


def server_properties(settings: Settings) -> str:
    k = settings.kafka
    data = home(settings) / "data"
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{k.host}:{k.controller_port}",
            f"listeners=PLAINTEXT://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}",
            f"advertised.listeners=PLAINTEXT://{k.host}:{k.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data}",
            f"num.partitions={settings.topics.partitions}",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.retention.hours=168",
            "log.segment.bytes=104857600",
            "num.network.threads=2",
            "num.io.threads=4",
            "",
        ]
    )


def prepare(settings: Settings) -> None:
    """Write configs every start (Settings may have changed); format storage only once."""
    h = home(settings)
    (h / "data").mkdir(parents=True, exist_ok=True)
    properties_file(settings).write_text(server_properties(settings))
    (h / "log4j2.properties").write_text(LOG4J2)
    (h / "jmx.yaml").write_text(JMX_RULES)
    if not (h / "data" / "meta.properties").exists():
        cluster_id = new_cluster_id()
        done = subprocess.run(
            [
                checked_java(settings),
                "-cp",
                classpath(settings),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(properties_file(settings)),
            ],
            capture_output=True,
            text=True,
            env={
                **os.environ,
                "KAFKA_LOG4J_OPTS": f"-Dlog4j2.configurationFile={h / 'log4j2.properties'}",
            },
        )
        if done.returncode != 0:
            raise InfraError(
                f"formatting Kafka storage in {h / 'data'} failed:\n{done.stdout}{done.stderr}"
            )


def new_cluster_id() -> str:
    """A random KRaft cluster id: base64url of a UUID, never starting with '-' (which the
    storage tool's argument parser would read as an option), as Kafka's own Uuid does."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def classpath(settings: Settings) -> str:
    return os.pathsep.join(str(j) for j in kafka_jars(settings))


def launch(settings: Settings) -> Launch:
    h = home(settings)
    heap = settings.kafka.heap_mb
    argv = [
        checked_java(settings),
        f"-Xms{heap}m",
        f"-Xmx{heap}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-XX:MaxMetaspaceSize=192m",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={h / 'log4j2.properties'}",
    ]
    agent = jmx_agent(settings)
    if agent:
        k = settings.kafka
        argv.append(f"-javaagent:{agent}={k.host}:{k.metrics_port}:{h / 'jmx.yaml'}")
    argv += ["-cp", classpath(settings), "kafka.Kafka", str(properties_file(settings))]
    return Launch(argv=argv)


def admin(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka_config(**{"log_level": 0, "socket.timeout.ms": 3000}))


def ready(settings: Settings) -> bool:
    """Ready means a metadata request is answered by a broker, not merely an open port."""
    md = admin(settings).list_topics(timeout=3)
    return bool(md.brokers)


def create_topics(settings: Settings) -> list[str]:
    report = ensure_topics(admin(settings), declared_topics(settings))
    notes = []
    if report.created:
        notes.append("created topics: " + ", ".join(report.created))
    if report.grown:
        notes.append("added partitions: " + ", ".join(report.grown))
    return notes


COMPONENT = Component(
    name="kafka",
    title=lambda s: f"Apache Kafka {s.kafka.version} (KRaft)",
    marker=lambda s: str(properties_file(s)),
    ports=lambda s: [
        Port(s.kafka.host, s.kafka.port, "TRANSITSTREAM_KAFKA__PORT"),
        Port(s.kafka.host, s.kafka.controller_port, "TRANSITSTREAM_KAFKA__CONTROLLER_PORT"),
        Port(s.kafka.host, s.kafka.metrics_port, "TRANSITSTREAM_KAFKA__METRICS_PORT"),
    ],
    prepare=prepare,
    launch=launch,
    ready=ready,
    endpoint=lambda s: s.kafka.bootstrap_servers,
    after_ready=create_topics,
)
