"""What the ingestor wrote in a time window, read back as the pipeline reads it (read_committed).

"Every 202 is in the topic, once" is the ingestor's promise; this is how a notebook, a test or an
operator checks it after a run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from transitstream.config import Settings
from transitstream.topic_reader import read_topic


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class Audit:
    positions: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]

    @property
    def event_ids(self) -> Counter[str]:
        return Counter(p["event_id"] for p in self.positions)

    @property
    def duplicates(self) -> int:
        """Copies beyond the first of an event_id (a retried request); removed downstream."""
        return sum(n - 1 for n in self.event_ids.values())

    @property
    def rejected_by_code(self) -> Counter[str]:
        return Counter(d["error_code"] for d in self.dead_letters)


def audit(settings: Settings, since_ms: int, until_ms: int) -> Audit:
    """Records the ingestor received between the two instants (its receive_time)."""

    def window(topic: str) -> list[dict[str, Any]]:
        return [
            r.value
            for r in read_topic(settings, topic)
            if since_ms <= _ms(r.value["receive_time"]) <= until_ms
        ]

    return Audit(window(settings.topics.position), window(settings.topics.position_dlq))
