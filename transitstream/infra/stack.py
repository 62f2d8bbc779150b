"""Bring the native stack up, down, and say how it is: the orchestration behind `infra`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

from transitstream.config import Settings
from transitstream.errors import InfraError
from transitstream.infra import kafka, postgres, prometheus, registry
from transitstream.infra.component import Component
from transitstream.infra.process import (
    clear_stale,
    log_tail,
    port_owner,
    read_pid,
    running_process,
    spawn,
    stop,
    tree_rss_bytes,
    wait_until,
)

# Start order: the registry keeps its state in Kafka, so it comes after it.
COMPONENTS: list[Component] = [
    postgres.COMPONENT,
    kafka.COMPONENT,
    registry.COMPONENT,
    prometheus.COMPONENT,
]
MEMORY_BUDGET_MB = 3072

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def component(name: str) -> Component:
    for c in COMPONENTS:
        if c.name == name:
            return c
    raise InfraError(f"no component {name!r}; choose from {', '.join(c.name for c in COMPONENTS)}")


def _check_ports(c: Component, settings: Settings) -> None:
    for p in c.ports(settings):
        owner = port_owner(p.host, p.port)
        if owner:
            raise InfraError(
                f"cannot start {c.name}: port {p.port} on {p.host} is already in use by {owner}. "
                f"Stop that process, or move {c.name} with {p.setting}=<free port>."
            )


def start(c: Component, settings: Settings, report: Report = _quiet) -> str:
    """Start one component if it is not running; returns "started" or "already running"."""
    m = c.managed(settings)
    limit = settings.startup_timeout_s
    if running_process(m) is not None:
        if not wait_until(lambda: c.ready(settings), limit):
            raise InfraError(
                f"{c.name} runs (pid {read_pid(m)}) but is not ready after {limit:.0f}s; "
                f"see {m.log_file}:\n{log_tail(m)}"
            )
        return "already running"
    if clear_stale(m):
        report(f"{c.name}: removed a stale PID file ({m.pid_file})")
    _check_ports(c, settings)
    c.prepare(settings)
    launch = c.launch(settings)
    t0 = time.monotonic()
    proc = spawn(m, launch.argv, env=launch.env, user=launch.user, cwd=launch.cwd)

    def up_or_died() -> bool:
        if proc.poll() is not None:
            time.sleep(0.5)  # let its last words reach the log
            raise InfraError(f"{c.name} exited during start-up; see {m.log_file}:\n{log_tail(m)}")
        return c.ready(settings)

    deadline = time.monotonic() + settings.startup_timeout_s
    while not _probe(up_or_died):
        if time.monotonic() > deadline:
            raise InfraError(
                f"{c.name} did not become ready within {settings.startup_timeout_s:.0f}s; "
                f"see {m.log_file}:\n{log_tail(m)}"
            )
        time.sleep(0.5)
    report(f"{c.name}: ready in {time.monotonic() - t0:.1f}s")
    return "started"


def _probe(check: Callable[[], bool]) -> bool:
    """Like wait_until for one try: probe errors mean "not yet", InfraError means "give up"."""
    try:
        return check()
    except InfraError:
        raise
    except Exception:
        return False


def up(settings: Settings, report: Report = _quiet) -> list[ComponentStatus]:
    """Start what is not running, wait for each part, converge topics and migrations.

    On failure the parts that did start keep running, and the error says how to stop them.
    """
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    for c in COMPONENTS:
        try:
            if start(c, settings, report) == "already running":
                report(f"{c.name}: already running (pid {read_pid(c.managed(settings))})")
            for note in c.after_ready(settings):
                report(f"{c.name}: {note}")
        except InfraError as exc:
            running = [s.name for s in status(settings) if s.running]
            hint = (
                f"\nstill running: {', '.join(running)}; fix the problem and re-run "
                "`transitstream infra up`, or stop them with `transitstream infra down`."
                if running
                else ""
            )
            raise InfraError(f"{exc}{hint}") from None
    return status(settings)


def down(settings: Settings, report: Report = _quiet) -> list[str]:
    """Stop, in reverse order, only the processes whose PID files we wrote (services first)."""
    from transitstream.services import SERVICES

    stopped = []
    for c in [*reversed(SERVICES), *reversed(COMPONENTS)]:
        m = c.managed(settings)
        stale = clear_stale(m)
        if stop(m, sig=c.stop_signal):
            stopped.append(c.name)
            report(f"{c.name}: stopped")
        elif stale:
            report(f"{c.name}: removed a stale PID file; nothing was running")
    return stopped


@dataclass
class ComponentStatus:
    name: str
    title: str
    endpoint: str
    running: bool
    ready: bool
    pid: int | None
    rss_mb: float
    log: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def status(settings: Settings, components: list[Component] | None = None) -> list[ComponentStatus]:
    out = []
    for c in COMPONENTS if components is None else components:
        m = c.managed(settings)
        proc = running_process(m)
        try:
            title = c.title(settings)
        except InfraError:
            title = c.name
        out.append(
            ComponentStatus(
                name=c.name,
                title=title,
                endpoint=c.endpoint(settings),
                running=proc is not None,
                ready=proc is not None and _probe(partial(c.ready, settings)),
                pid=proc.pid if proc else None,
                rss_mb=round(tree_rss_bytes(proc) / 2**20, 1) if proc else 0.0,
                log=str(m.log_file),
            )
        )
    return out
