"""What the stack needs to know about each of its parts, in one shape."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from transitstream.config import Settings
from transitstream.infra.process import Managed


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    cwd: Path | None = None


@dataclass(frozen=True)
class Port:
    host: str
    port: int
    setting: str  # the variable that moves it, named in "port taken" errors


@dataclass(frozen=True)
class Component:
    """A process of the native stack.

    `prepare` does first-start work (format storage, initdb, write config) and must be
    idempotent; `after_ready` converges what lives inside the server (topics, migrations).
    """

    name: str
    title: Callable[[Settings], str]
    marker: Callable[[Settings], str]
    ports: Callable[[Settings], list[Port]]
    prepare: Callable[[Settings], None]
    launch: Callable[[Settings], Launch]
    ready: Callable[[Settings], bool]
    endpoint: Callable[[Settings], str]
    after_ready: Callable[[Settings], list[str]] = lambda s: []
    stop_signal: int = signal.SIGTERM

    def managed(self, settings: Settings) -> Managed:
        return Managed(
            name=self.name,
            run_dir=settings.state_dir / "run",
            log_dir=settings.state_dir / "logs",
            marker=self.marker(settings),
        )
