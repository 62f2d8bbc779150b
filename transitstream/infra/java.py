"""Finding Java and the Maven-resolved jars, with errors that say how to get them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from transitstream.config import Settings, project_root
from transitstream.errors import InfraError

MIN_JAVA = 17
POM = Path(__file__).parent / "jvm" / "pom.xml"
JMX_AGENT_PREFIX = "jmx_prometheus_javaagent"


def java_binary(settings: Settings) -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which(settings.java)
    if not found:
        raise InfraError(
            f"Java {MIN_JAVA}+ is not installed (no {settings.java!r} on PATH): run `make setup` "
            "as root, or `sudo apt-get install openjdk-17-jre-headless`, or set JAVA_HOME."
        )
    return found


def java_version(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise InfraError(f"cannot tell the version of {java}: {out.stderr.strip()[:200]}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def checked_java(settings: Settings) -> str:
    java = java_binary(settings)
    version = java_version(java)
    if version < MIN_JAVA:
        raise InfraError(
            f"{java} is Java {version}; Kafka 4 needs Java {MIN_JAVA}+: "
            "`sudo apt-get install openjdk-17-jre-headless` or set JAVA_HOME."
        )
    return java


def kafka_jars(settings: Settings) -> list[Path]:
    jars = sorted(settings.jars_dir.glob("*.jar"))
    classpath = [j for j in jars if not j.name.startswith(JMX_AGENT_PREFIX)]
    if not any(j.name.startswith(f"kafka_2.13-{settings.kafka.version}") for j in classpath):
        raise InfraError(
            f"the Kafka {settings.kafka.version} jars are missing from {settings.jars_dir}: "
            "run `make setup` (or `transitstream infra jars`)."
        )
    return classpath


def jmx_agent(settings: Settings) -> Path | None:
    return next(iter(sorted(settings.jars_dir.glob(f"{JMX_AGENT_PREFIX}-*.jar"))), None)


def fetch_jars(settings: Settings) -> Path:
    """Resolve the pinned pom into jars_dir with Maven; idempotent, offline once cached."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise InfraError(
            "Maven is not installed: run `make setup` or `sudo apt-get install maven`."
        )
    settings.jars_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={settings.jars_dir}",
        "-DincludeScope=runtime",
        "-Dmdep.overWriteIfNewer=true",
    ]
    done = subprocess.run(cmd, cwd=project_root(), capture_output=True, text=True)
    if done.returncode != 0:
        raise InfraError(
            "Maven could not resolve the Kafka jars:\n"
            + (done.stdout + done.stderr)[-1500:]
            + "\ncheck that Maven Central is reachable, then re-run `make setup`."
        )
    return settings.jars_dir
