"""The one declaration of the topics the pipeline needs, and its idempotent creation.

Both stacks use it: `transitstream infra up` calls `ensure_topics`, and the compose stack runs
`transitstream infra topics` in its init container, so the topic set cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from transitstream.config import Settings
from transitstream.errors import InfraError

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    cleanup_policy: str = "delete"
    retention_ms: int = 7 * DAY_MS
    extra: dict[str, str] = field(default_factory=dict)

    def configs(self) -> dict[str, str]:
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            **self.extra,
        }


def declared_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic of the pipeline: the log is the system of record, so data topics keep a week.

    Dead-letter topics keep 30 days: a rejected event must outlive the investigation of why.
    """
    t = settings.topics
    n = t.partitions
    return [
        TopicSpec(t.position, n),
        TopicSpec(t.position_dlq, 1, retention_ms=30 * DAY_MS),
        TopicSpec(t.enriched, n),
        TopicSpec(t.eta, n),
        TopicSpec(t.anomaly, n),
        TopicSpec(t.projector_dlq, 1, retention_ms=30 * DAY_MS),
        # One record per stream query and batch, written in the batch's own transaction;
        # compaction keeps the latest per query, which is all a restarted query needs.
        TopicSpec(t.stream_commits, 1, cleanup_policy="compact", retention_ms=-1),
    ]


@dataclass
class TopicReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)


def ensure_topics(admin: AdminClient, specs: list[TopicSpec], timeout: float = 30.0) -> TopicReport:
    """Create missing topics, grow partitions and converge configs; never delete anything."""
    report = TopicReport()
    existing = admin.list_topics(timeout=timeout).topics
    missing = [s for s in specs if s.name not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(s.name, s.partitions, 1, config=s.configs()) for s in missing],
            operation_timeout=timeout,
        )
        for name, fut in futures.items():
            try:
                fut.result()
                report.created.append(name)
            except Exception as exc:  # TOPIC_ALREADY_EXISTS from a concurrent creator is fine
                if "already exists" not in str(exc).lower():
                    raise InfraError(f"could not create topic {name}: {exc}") from exc
                report.existing.append(name)
    present = [s for s in specs if s.name in existing]
    grow = [s for s in present if len(existing[s.name].partitions) < s.partitions]
    if grow:
        for name, fut in admin.create_partitions(
            [NewPartitions(s.name, s.partitions) for s in grow]
        ).items():
            fut.result()
            report.grown.append(name)
    if present:
        resources = [
            ConfigResource(
                ConfigResource.Type.TOPIC,
                s.name,
                incremental_configs=[
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                    for k, v in s.configs().items()
                ],
            )
            for s in present
        ]
        for fut in admin.incremental_alter_configs(resources).values():
            fut.result()
        report.existing.extend(s.name for s in present)
    return report
