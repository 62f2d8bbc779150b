"""Finding Java and the Maven-resolved jars, with errors that say how to get them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from transitstream.config import Settings, project_root
from transitstream.errors import InfraError

MIN_JAVA = 17
POM = Path(__file__).parent / "jvm" / "pom.xml"
SPARK_POM = Path(__file__).parent / "jvm" / "spark" / "pom.xml"
SPARK_JARS_SUBDIR = "spark"
SPARK_KAFKA_CONNECTOR = "spark-sql-kafka-0-10_2.13"
SPARK_AVRO = "spark-avro_2.13"
SPARK_CONNECTORS = (SPARK_KAFKA_CONNECTOR, SPARK_AVRO)  # each must match pyspark's version
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


def java_home(java: str) -> Path:
    """The JDK folder of a java binary, for tools (like pyspark) that want JAVA_HOME."""
    return Path(java).resolve().parent.parent


def spark_jars_dir(settings: Settings) -> Path:
    return settings.jars_dir / SPARK_JARS_SUBDIR


def spark_jars(settings: Settings) -> list[Path]:
    """The Kafka connector and spark-avro jars for the installed pyspark, for `spark.jars`.

    Both must match pyspark's version exactly (they use Spark internals), so a jar of another
    version counts as missing: the pom and the pyspark pin moved apart.
    """
    folder = spark_jars_dir(settings)
    jars = sorted(folder.glob("*.jar"))
    try:
        version = metadata.version("pyspark")
    except metadata.PackageNotFoundError:
        raise InfraError(
            "pyspark is not installed: run `make setup` (or `.venv/bin/pip install -e .`)."
        ) from None
    for connector in SPARK_CONNECTORS:
        wanted = f"{connector}-{version}.jar"
        if any(j.name == wanted for j in jars):
            continue
        found = [j.name for j in jars if j.name.startswith(connector)]
        mismatch = (
            f" (found {', '.join(found)}: keep spark.version in "
            f"{SPARK_POM.relative_to(SPARK_POM.parents[4])} "
            "equal to the pyspark pin)"
            if found
            else ""
        )
        raise InfraError(
            f"the Spark jar {wanted} is missing from {folder}{mismatch}: "
            "run `make setup` (or `transitstream infra jars`)."
        )
    return jars


def jmx_agent(settings: Settings) -> Path | None:
    return next(iter(sorted(settings.jars_dir.glob(f"{JMX_AGENT_PREFIX}-*.jar"))), None)


def _copy_dependencies(pom: Path, out: Path, what: str) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        raise InfraError(
            "Maven is not installed: run `make setup` or `sudo apt-get install maven`."
        )
    out.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out}",
        "-DincludeScope=runtime",
        "-Dmdep.overWriteIfNewer=true",
    ]
    done = subprocess.run(cmd, cwd=project_root(), capture_output=True, text=True)
    if done.returncode != 0:
        raise InfraError(
            f"Maven could not resolve the {what} jars:\n"
            + (done.stdout + done.stderr)[-1500:]
            + "\ncheck that Maven Central is reachable, then re-run `make setup`."
        )


def fetch_jars(settings: Settings) -> Path:
    """Resolve the pinned poms into jars_dir with Maven; idempotent, offline once cached.

    The broker's jars go to jars_dir itself, Spark's connector jars to jars_dir/spark/, so the
    two kafka-clients versions never share a classpath. The Spark folder is rebuilt whole and
    swapped in, so a changed pin never leaves two connector versions side by side.
    """
    _copy_dependencies(POM, settings.jars_dir, "Kafka")
    spark_dir = spark_jars_dir(settings)
    staging = spark_dir.with_name(spark_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    _copy_dependencies(SPARK_POM, staging, "Spark connector")
    shutil.rmtree(spark_dir, ignore_errors=True)
    staging.rename(spark_dir)
    return settings.jars_dir
