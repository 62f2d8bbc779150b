"""Run `python -m transitstream.registry` as a real subprocess for the conformance tests.

A subprocess, not an in-process app, because the restart test must prove that state survives
the process: only the Kafka topic may carry it across.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from transitstream.config import Settings, project_root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def registry_env(stack: Settings, port: int, topic: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRANSITSTREAM_REGISTRY__")}
    env.update(
        {
            "TRANSITSTREAM_KAFKA__HOST": stack.kafka.host,
            "TRANSITSTREAM_KAFKA__PORT": str(stack.kafka.port),
            "TRANSITSTREAM_REGISTRY__HOST": "127.0.0.1",
            "TRANSITSTREAM_REGISTRY__PORT": str(port),
            "TRANSITSTREAM_REGISTRY__TOPIC": topic,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def delete_topic(settings: Settings, topic: str, timeout_s: float = 15.0) -> None:
    """Drop a test's registry topic, so a kept stack (TRANSITSTREAM_TEST_KEEP_STACK) stays tidy."""
    admin = AdminClient(settings.kafka_config())
    try:
        admin.delete_topics([topic], operation_timeout=timeout_s)[topic].result(timeout_s)
    except KafkaException as exc:
        print(f"could not delete test topic {topic!r}: {exc}")


@dataclass
class RegistryProcess:
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['TRANSITSTREAM_REGISTRY__PORT']}"

    def start(self, timeout_s: float = 60.0) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "transitstream.registry"],
            env=self.env,
            cwd=project_root(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"registry not up on {self.url} after {timeout_s:.0f}s:\n{self.tail()}")

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM, as an orchestrator would; returns the exit code (0 is a clean stop)."""
        if self.proc is None:
            return None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return None
        finally:
            self.proc = None
            if self._log is not None:
                self._log.close()
                self._log = None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
