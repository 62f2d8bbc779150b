"""Start, find and stop the native stack's processes by the PIDs we recorded.

`infra down` must never kill a process it did not start, so a PID file is trusted only when the
process behind it is alive and its command line still carries the marker we started it with.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from transitstream.errors import InfraError


@dataclass(frozen=True)
class Managed:
    """A process of the stack: where its PID and log live, and what proves it is ours."""

    name: str
    run_dir: Path
    log_dir: Path
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"


def read_pid(m: Managed) -> int | None:
    try:
        return int(m.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def running_process(m: Managed) -> psutil.Process | None:
    """The live process behind the PID file, or None (no file, or the file is stale)."""
    pid = read_pid(m)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE and m.marker in " ".join(proc.cmdline()):
            return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
    return None


def clear_stale(m: Managed) -> bool:
    """Remove a PID file that names no process of ours (say, after a reboot); True if removed."""
    if m.pid_file.exists() and running_process(m) is None:
        m.pid_file.unlink(missing_ok=True)
        return True
    return False


def port_owner(host: str, port: int) -> str | None:
    """Who listens on host:port ("pid 123 (java)"), "unknown process", or None if free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) != 0:
            return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            laddr = conn.laddr
            listening = conn.status == psutil.CONN_LISTEN and isinstance(laddr, tuple) and laddr
            if listening and getattr(laddr, "port", None) == port and conn.pid:
                try:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.NoSuchProcess:
                    break
    except psutil.AccessDenied:
        pass
    return "an unknown process"


def as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that drop to `user` with its own group only (not root's group 0, which
    folder permissions would otherwise judge us by)."""
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def spawn(
    m: Managed,
    argv: list[str],
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start argv detached (own session, so Ctrl+C in the shell does not reach it)."""
    m.run_dir.mkdir(parents=True, exist_ok=True)
    m.log_dir.mkdir(parents=True, exist_ok=True)
    with open(m.log_file, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {m.name}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                **as_user(user),
            )
        except FileNotFoundError as exc:
            raise InfraError(f"{m.name}: cannot run {argv[0]!r}: {exc}") from exc
    m.pid_file.write_text(str(proc.pid))
    return proc


def stop(m: Managed, timeout: float = 30.0, sig: int = signal.SIGTERM) -> bool:
    """Signal (SIGTERM unless told), wait, then SIGKILL it and its children; False if none ran."""
    proc = running_process(m)
    if proc is None:
        m.pid_file.unlink(missing_ok=True)
        return False
    children = proc.children(recursive=True)
    proc.send_signal(sig)
    _, alive = psutil.wait_procs([proc], timeout=timeout)
    for p in [*alive, *children]:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs([*alive, *children], timeout=5)
    m.pid_file.unlink(missing_ok=True)
    return True


def tree_rss_bytes(proc: psutil.Process) -> int:
    """Resident memory of a process and its children (Postgres forks one per backend)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def log_tail(m: Managed, lines: int = 15) -> str:
    try:
        return "\n".join(m.log_file.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log yet)"


def wait_until(check: Callable[[], object], timeout: float, interval: float = 0.5) -> bool:
    """Poll `check` until it returns truthy or the timeout passes; exceptions count as no."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:
            pass
        time.sleep(interval)
    return False
