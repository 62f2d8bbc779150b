"""What the stack needs to know about each of its parts, in one shape."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from transitstream.config import Settings, to_env
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


def _http_process(
    name: str,
    title: str,
    args: Callable[[Settings], list[str]],
    address: Callable[[Settings], tuple[str, int]],
    setting: str,
    ready_path: str,
    endpoint_path: str,
) -> Component:
    """A Python process of ours (`python <args>`) that listens on `address`, ready when
    GET <ready_path> answers 200. Its arguments name its port, which makes the marker unique to
    one stack."""

    def url(s: Settings) -> str:
        host, port = address(s)
        return f"http://{host}:{port}"

    def ready(s: Settings) -> bool:
        return httpx.get(f"{url(s)}{ready_path}", timeout=3).status_code == 200

    return Component(
        name=name,
        title=lambda s: title,
        marker=lambda s: " ".join(args(s)[1:]),
        ports=lambda s: [Port(*address(s), setting)],
        prepare=lambda s: None,
        launch=lambda s: Launch(argv=[sys.executable, *args(s)], env=to_env(s)),
        ready=ready,
        endpoint=lambda s: f"{url(s)}{endpoint_path}",
    )


def http_service(
    name: str,
    title: str,
    module: str,
    address: Callable[[Settings], tuple[str, int]],
    setting: str,
    ready_path: str,
) -> Component:
    """A FastAPI service of ours run as `python -m <module> --host H --port P`."""

    def args(s: Settings) -> list[str]:
        host, port = address(s)
        return ["-m", module, "--host", host, "--port", str(port)]

    return _http_process(name, title, args, address, setting, ready_path, "")


def cli_job(
    name: str,
    title: str,
    command: tuple[str, ...],
    address: Callable[[Settings], tuple[str, int]],
    setting: str,
    ready_path: str,
) -> Component:
    """A long-running `transitstream <command> --metrics-port P` (the stream job, the
    projectors): its metrics server is its only port, and answers GET <ready_path> with 200 once
    the job is really running."""

    def args(s: Settings) -> list[str]:
        return ["-m", "transitstream.cli", *command, "--metrics-port", str(address(s)[1])]

    return _http_process(name, title, args, address, setting, ready_path, "/metrics")
