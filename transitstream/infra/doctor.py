"""`transitstream doctor`: every check a learner would otherwise do by hand, each with its fix."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass

from transitstream.config import Settings
from transitstream.errors import InfraError
from transitstream.infra import kafka, prometheus, registry
from transitstream.infra.java import (
    MIN_JAVA,
    checked_java,
    java_version,
    kafka_jars,
    spark_jars,
)
from transitstream.infra.postgres import bin_dir
from transitstream.infra.process import port_owner, running_process
from transitstream.infra.stack import COMPONENTS, MEMORY_BUDGET_MB, status
from transitstream.infra.topics import declared_topics

MIN_FREE_GB = 2.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _run(name: str, fn: Callable[[], str], fix: str) -> Check:
    """A check passes when fn returns; a TransitStreamError's message is its own fix."""
    try:
        return Check(name, True, fn())
    except InfraError as exc:
        return Check(name, False, str(exc).split(":")[0], str(exc))
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}"[:200], fix)


def _java(settings: Settings) -> str:
    java = checked_java(settings)
    return f"Java {java_version(java)} at {java} (needs {MIN_JAVA}+)"


def _disk(settings: Settings) -> str:
    folder = settings.state_dir if settings.state_dir.exists() else settings.state_dir.parent
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free / 2**30
    if free < MIN_FREE_GB:
        raise InfraError(f"only {free:.1f} GB free under {folder}: free some disk space")
    return f"{free:.0f} GB free under {folder}"


def _ports(settings: Settings) -> list[Check]:
    checks = []
    for c in COMPONENTS:
        ours = running_process(c.managed(settings)) is not None
        for p in c.ports(settings):
            owner = port_owner(p.host, p.port)
            if owner is None or ours:
                detail = f"{p.host}:{p.port} " + ("used by our " + c.name if ours else "free")
                checks.append(Check(f"port {p.port} ({c.name})", True, detail))
            else:
                checks.append(
                    Check(
                        f"port {p.port} ({c.name})",
                        False,
                        f"taken by {owner}",
                        f"stop {owner}, or set {p.setting}=<free port>",
                    )
                )
    return checks


def _topics(settings: Settings) -> str:
    present = set(kafka.admin(settings).list_topics(timeout=5).topics)
    missing = [t.name for t in declared_topics(settings) if t.name not in present]
    if missing:
        raise InfraError(f"missing topics {', '.join(missing)}: run `transitstream infra topics`")
    return f"all {len(declared_topics(settings))} declared topics exist"


def _subjects(settings: Settings) -> str:
    names = registry.subjects(settings)
    return f"{len(names)} subject(s)" + (": " + ", ".join(names) if names else "")


def _targets(settings: Settings) -> str:
    health = prometheus.targets(settings)
    if not health:
        return "no scrape yet: Prometheus has just started, ask again in a few seconds"
    return ", ".join(f"{job}={state}" for job, state in sorted(health.items()))


def run_checks(settings: Settings) -> list[Check]:
    up_fix = "run `transitstream infra up` (logs: transitstream infra status)"
    checks = [
        _run("java", lambda: _java(settings), "install openjdk-17-jre-headless"),
        _run("kafka jars", lambda: f"{len(kafka_jars(settings))} jars", "run `make setup`"),
        _run("spark jars", lambda: f"{len(spark_jars(settings))} jars", "run `make setup`"),
        _run("postgres binaries", lambda: str(bin_dir(settings)), "apt-get install postgresql"),
        _run(
            "prometheus binary", lambda: prometheus.binary(settings), "apt-get install prometheus"
        ),
        _run("disk", lambda: _disk(settings), "free some disk space"),
        *_ports(settings),
    ]
    states = status(settings)
    for s in states:
        detail = f"{s.endpoint} pid {s.pid}, {s.rss_mb:.0f} MB" if s.running else "not running"
        ok = s.running and s.ready
        fix = "" if ok else (f"not answering: see {s.log}" if s.running else up_fix)
        checks.append(Check(f"service {s.name}", ok, detail + ("" if ok else " (not ready)"), fix))
    total = sum(s.rss_mb for s in states)
    checks.append(
        Check(
            "memory",
            total <= MEMORY_BUDGET_MB,
            f"{total:.0f} MB resident (budget {MEMORY_BUDGET_MB} MB)",
            "lower TRANSITSTREAM_KAFKA__HEAP_MB or TRANSITSTREAM_POSTGRES__SHARED_BUFFERS",
        )
    )
    by_name = {s.name: s for s in states}
    if by_name["kafka"].ready:
        checks.append(_run("topics", lambda: _topics(settings), "run `transitstream infra topics`"))
    if by_name["registry"].ready:
        checks.append(_run("registry subjects", lambda: _subjects(settings), up_fix))
    if by_name["prometheus"].ready:
        checks.append(_run("prometheus targets", lambda: _targets(settings), up_fix))
    return checks
