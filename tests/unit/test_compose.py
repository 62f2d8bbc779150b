"""The Docker Compose stack, checked without Docker.

docker-compose.yml, docker/prometheus.yml, the Grafana provisioning and dashboards/*.json must agree
with each other and with Settings: the host sees the compose stack at the same addresses as the
native one, and our containers find the others by service name.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from transitstream.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_FILE = ROOT / "docker" / "prometheus.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DASHBOARDS_DIR = ROOT / "dashboards"
PROVISIONING = ROOT / "docker" / "grafana" / "provisioning"
DATASOURCES_FILE = PROVISIONING / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDER_FILE = PROVISIONING / "dashboards" / "transitstream.yml"

EXPECTED_SERVICES = {
    "kafka", "schema-registry", "postgres", "prometheus", "grafana", "init", "ingest",
    "stream", "project", "api",
}  # fmt: skip
ONE_SHOT_SERVICES = {"init"}
ENV_ANCHOR = "x-transitstream-env"

# service -> the Settings section whose `port` the service publishes on the host
PUBLISHED_PORT_SETTINGS = {
    "kafka": "kafka",
    "schema-registry": "registry",
    "postgres": "postgres",
    "prometheus": "prometheus",
    "grafana": "grafana",
    "ingest": "ingest",
    "api": "api",
}


# --- reading the files -------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as shipped: no TRANSITSTREAM_* variables, no .env file."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    sources = load_yaml(DATASOURCES_FILE)["datasources"]
    defaults = [s for s in sources if s.get("isDefault")]
    assert len(defaults) == 1, "exactly one provisioned datasource must be the default"
    return defaults[0]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as strings, from either the mapping or the list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def port_mappings(service: dict[str, Any]) -> list[tuple[int | None, int]]:
    """(host port or None, container port) for each entry of `ports`, short or long syntax."""
    mappings: list[tuple[int | None, int]] = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            published = entry.get("published")
            mappings.append((int(published) if published else None, int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        host = int(parts[-2]) if len(parts) >= 2 else None
        mappings.append((host, int(parts[-1])))
    return mappings


def listening_ports(service: dict[str, Any]) -> set[int]:
    """Container ports a service declares (published or only exposed to the network)."""
    ports = {container for _, container in port_mappings(service)}
    return ports | {int(str(p).split("/")[0]) for p in service.get("expose", [])}


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) for each entry of `volumes`, short or long syntax."""
    result = []
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            result.append((str(entry.get("source", "")), str(entry["target"])))
        else:
            source, target = str(entry).split(":")[:2]
            result.append((source, target))
    return result


def is_named_volume(source: str) -> bool:
    return bool(source) and not source.startswith((".", "/", "~", "$"))


def bind_source(source: str) -> Path:
    return (COMPOSE_FILE.parent / source).resolve()


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` -> {NAME: (host, port)}; an empty host means all interfaces."""
    result = {}
    for item in value.split(","):
        name, address = item.strip().split("://")
        host, port = address.rsplit(":", 1)
        result[name] = (host, int(port))
    return result


def flag(command: list[str], name: str) -> str:
    """The value of `--name=value` in a command list."""
    for arg in command:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"--{name} is not set in {command}")


def full_command(service: dict[str, Any]) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key) or []
        parts.extend(shlex.split(value) if isinstance(value, str) else [str(v) for v in value])
    return " ".join(parts)


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Panels, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


# --- services, health, ports ------------------------------------------------------------------


def test_compose_uses_the_compose_spec(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "the Compose spec has no `version:` key"


def test_every_expected_service_is_present(services: dict[str, Any]) -> None:
    missing = EXPECTED_SERVICES - services.keys()
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_only_the_declared_services_are_one_shot(services: dict[str, Any]) -> None:
    one_shot = {name for name, svc in services.items() if str(svc.get("restart")) == "no"}
    assert one_shot == ONE_SHOT_SERVICES


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if name in ONE_SHOT_SERVICES:
            continue
        check = svc.get("healthcheck") or {}
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        test = check.get("test")
        assert test, f"{name}: no healthcheck test"
        if isinstance(test, list):
            assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: bad test {test}"


def test_healthy_dependencies_have_healthchecks(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        depends = svc.get("depends_on") or {}
        if isinstance(depends, list):
            continue
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown service {target}"
            if spec.get("condition") == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits on {target}'s health"


@pytest.mark.parametrize(("service", "section"), sorted(PUBLISHED_PORT_SETTINGS.items()))
def test_published_host_port_equals_settings_default(
    services: dict[str, Any], defaults: Settings, service: str, section: str
) -> None:
    expected = getattr(defaults, section).port
    hosts = [host for host, _ in port_mappings(services[service])]
    assert expected in hosts, f"{service} publishes {hosts}, Settings expect {expected}"


def test_kafka_advertises_the_published_port_to_the_host(
    services: dict[str, Any], defaults: Settings
) -> None:
    env = environment(services["kafka"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    bound = listeners(env["KAFKA_LISTENERS"])
    external = [n for n, (host, _) in advertised.items() if host in ("localhost", "127.0.0.1")]
    assert len(external) == 1, f"one listener must be advertised to the host: {advertised}"
    name = external[0]
    assert advertised[name][1] == defaults.kafka.port
    published = dict(port_mappings(services["kafka"]))
    assert published.get(defaults.kafka.port) == bound[name][1], (
        "the host port must map to the container port the external listener binds"
    )


def test_kafka_internal_listener_is_what_containers_use(services: dict[str, Any]) -> None:
    kafka_env = environment(services["kafka"])
    internal = set(listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"]).values())
    ours = environment(services["init"])
    assert (ours["TRANSITSTREAM_KAFKA__HOST"], int(ours["TRANSITSTREAM_KAFKA__PORT"])) in internal
    registry_env = environment(services["schema-registry"])
    bootstrap = registry_env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"].split("://")[-1]
    host, port = bootstrap.rsplit(":", 1)
    assert (host, int(port)) in internal, f"registry bootstraps from {bootstrap}"


def test_kafka_controller_quorum(services: dict[str, Any], defaults: Settings) -> None:
    env = environment(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    bound_port = listeners(env["KAFKA_LISTENERS"])[controller][1]
    node_id, voter = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node_id == env["KAFKA_NODE_ID"]
    assert voter == f"kafka:{bound_port}"
    assert bound_port == defaults.kafka.controller_port


def test_kafka_is_configured_for_one_broker(services: dict[str, Any], defaults: Settings) -> None:
    env = environment(services["kafka"])
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env.get(key) == "1", f"{key} must be 1 on a single broker"
    assert env.get("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS") == "0"
    heap = defaults.kafka.heap_mb
    assert env.get("KAFKA_HEAP_OPTS") == f"-Xmx{heap}m -Xms{heap}m"
    cluster_id = env["CLUSTER_ID"]
    assert len(cluster_id) == 22, "CLUSTER_ID is a base64url UUID without padding"
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_kafka_image_is_the_settings_version(services: dict[str, Any], defaults: Settings) -> None:
    image = services["kafka"]["image"]
    assert image == f"apache/kafka:{defaults.kafka.version}", "both stacks run the same broker"


def test_registry_matches_settings(services: dict[str, Any], defaults: Settings) -> None:
    env = environment(services["schema-registry"])
    assert env["SCHEMA_REGISTRY_KAFKASTORE_TOPIC"] == defaults.registry.topic
    level = env["SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL"]
    assert level.upper() == defaults.registry.default_compatibility.upper()


def test_postgres_credentials_equal_settings(services: dict[str, Any], defaults: Settings) -> None:
    env = environment(services["postgres"])
    assert env["POSTGRES_USER"] == defaults.postgres.user
    assert env["POSTGRES_DB"] == defaults.postgres.database
    assert env["POSTGRES_PASSWORD"] == defaults.postgres.password.get_secret_value()


# --- images and volumes -----------------------------------------------------------------------


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if "build" in svc:
            continue
        image = svc.get("image", "")
        assert image, f"{name}: neither image nor build"
        if "@sha256:" in image:
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {
        source
        for svc in compose["services"].values()
        for source, _ in mounts(svc)
        if is_named_volume(source)
    }
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"
    assert declared <= used, f"declared but unused volumes: {sorted(declared - used)}"


def test_stateful_services_keep_data_in_named_volumes(services: dict[str, Any]) -> None:
    prometheus_cmd = [str(arg) for arg in services["prometheus"]["command"]]
    data_dirs = {
        "kafka": environment(services["kafka"])["KAFKA_LOG_DIRS"],
        "postgres": environment(services["postgres"]).get("PGDATA", "/var/lib/postgresql/data"),
        "prometheus": flag(prometheus_cmd, "storage.tsdb.path"),
        "grafana": "/var/lib/grafana",
    }
    for name, data_dir in data_dirs.items():
        named = {target for source, target in mounts(services[name]) if is_named_volume(source)}
        assert data_dir in named, f"{name}: {data_dir} is not on a named volume ({named})"


def test_bind_mount_sources_exist(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for source, _ in mounts(svc):
            if source.startswith("."):
                assert bind_source(source).exists(), f"{name}: {source} does not exist"


# --- our image ----------------------------------------------------------------------------------


def test_built_services_use_the_dockerfile(services: dict[str, Any]) -> None:
    built = {name: svc["build"] for name, svc in services.items() if "build" in svc}
    assert "init" in built
    for name, build in built.items():
        context = COMPOSE_FILE.parent / build["context"]
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE, name


def test_build_targets_are_stages_of_the_dockerfile(services: dict[str, Any]) -> None:
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE.read_text(), re.MULTILINE))
    targets = {svc["build"].get("target") for svc in services.values() if "build" in svc}
    assert None not in targets, "name the stage: the default (last) one is the big Spark image"
    assert targets <= stages, f"no such stage: {targets - stages}"
    assert services["stream"]["build"]["target"] == "spark"
    assert all(
        svc["build"]["target"] == "app"
        for name, svc in services.items()
        if "build" in svc and name != "stream"
    )


def test_stream_checkpoints_survive_a_restart(services: dict[str, Any]) -> None:
    stream = services["stream"]
    state = environment(stream)["TRANSITSTREAM_STATE_DIR"]
    assert any(target == state and is_named_volume(src) for src, target in mounts(stream))
    assert f"chown transitstream {state}" in DOCKERFILE.read_text()


def test_dockerfile_builds_a_small_non_root_cli_image() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert re.search(r"^RUN pip install \.", text, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    entrypoints = re.findall(r"^ENTRYPOINT (.+)$", text, re.MULTILINE)
    assert entrypoints and json.loads(entrypoints[-1]) == ["transitstream"]


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves `path` (or a folder above it) out of the build context."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.lstrip("!").strip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch(prefix, pattern) for prefix in prefixes)
        if hit:
            ignored = not negate
    return ignored


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = dockerignore_patterns()
    for path in (".git", ".venv", ".transitstream/state/kafka", "notebooks/x/.ipynb_checkpoints"):
        assert dockerignored(path, patterns), f"{path} would be sent to the Docker daemon"


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    patterns = dockerignore_patterns()
    copies = re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert copies, "the Dockerfile copies nothing"
    for line in copies:
        *sources, _destination = [arg for arg in line.split() if not arg.startswith("--")]
        assert any(list(ROOT.glob(src)) for src in sources), f"COPY {line}: no source exists"
        for src in sources:
            assert not dockerignored(src.rstrip("*"), patterns), f"{src} is in .dockerignore"


# --- init and the env anchor --------------------------------------------------------------------


def test_init_creates_the_declared_topics_and_migrates(services: dict[str, Any]) -> None:
    init = services["init"]
    command = full_command(init)
    assert "transitstream infra topics" in command, "topics must come from infra/topics.py"
    assert "transitstream db migrate" in command
    for dependency in ("kafka", "schema-registry", "postgres"):
        assert init["depends_on"][dependency]["condition"] == "service_healthy", dependency
    kafka_env = environment(services["kafka"])
    assert kafka_env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false", (
        "with auto-creation on, a producer could create a topic the declaration does not know"
    )


def test_env_anchor_is_used_by_every_built_service(compose: dict[str, Any]) -> None:
    anchor = {key: str(value) for key, value in compose[ENV_ANCHOR].items()}
    assert anchor["TRANSITSTREAM_KAFKA__HOST"] == "kafka"
    assert anchor["TRANSITSTREAM_KAFKA__HOST"] in compose["services"]
    for name, svc in compose["services"].items():
        if "build" in svc:
            env = environment(svc)
            assert anchor.items() <= env.items(), f"{name} does not use {ENV_ANCHOR}"


def test_settings_from_the_env_anchor_reach_the_services(
    compose: dict[str, Any], defaults: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What our containers compute from the anchor must be real service names and ports."""
    services = compose["services"]
    for key, value in compose[ENV_ANCHOR].items():
        monkeypatch.setenv(key, str(value))
    inside = Settings(_env_file=None)  # type: ignore[call-arg]

    kafka_env = environment(services["kafka"])
    internal = {f"{h}:{p}" for h, p in listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"]).values()}
    assert inside.kafka.bootstrap_servers in internal

    registry = urlsplit(inside.registry.url)
    assert registry.hostname in services
    assert registry.port in listening_ports(services[registry.hostname])

    assert inside.postgres.host in services
    assert inside.postgres.port in listening_ports(services[inside.postgres.host])


# --- Prometheus -------------------------------------------------------------------------------


def test_prometheus_config_is_the_mounted_file(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    config_path = flag([str(arg) for arg in prometheus["command"]], "config.file")
    sources = {target: source for source, target in mounts(prometheus)}
    assert config_path in sources, f"{config_path} is not mounted"
    assert bind_source(sources[config_path]) == PROMETHEUS_FILE.resolve()


def test_prometheus_matches_settings(services: dict[str, Any], defaults: Settings) -> None:
    config = load_yaml(PROMETHEUS_FILE)
    assert config["global"]["scrape_interval"] == defaults.prometheus.scrape_interval
    command = [str(arg) for arg in services["prometheus"]["command"]]
    assert flag(command, "storage.tsdb.retention.time") == defaults.prometheus.retention


def test_prometheus_scrapes_compose_services_on_their_ports(services: dict[str, Any]) -> None:
    config = load_yaml(PROMETHEUS_FILE)
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert len(jobs) == len(set(jobs)), f"duplicate job names: {jobs}"
    assert "prometheus" in jobs
    for job in config["scrape_configs"]:
        targets = [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        assert targets, f"job {job['job_name']} has no targets"
        for target in targets:
            host, port = target.rsplit(":", 1)
            assert host in services, f"{job['job_name']}: {host} is not a compose service"
            assert int(port) in listening_ports(services[host]), f"{host} does not listen on {port}"


# --- Grafana ----------------------------------------------------------------------------------


def grafana_mount_source(services: dict[str, Any], target: str) -> Path:
    for source, mounted_at in mounts(services["grafana"]):
        if mounted_at == target:
            return bind_source(source)
    raise AssertionError(f"nothing is mounted at {target} in grafana")


def test_grafana_provisioning_is_mounted_from_the_repository(services: dict[str, Any]) -> None:
    for kind, provisioned in (
        ("datasources", DATASOURCES_FILE),
        ("dashboards", DASHBOARD_PROVIDER_FILE),
    ):
        source = grafana_mount_source(services, f"/etc/grafana/provisioning/{kind}")
        assert source == provisioned.parent.resolve()
        assert provisioned.is_file(), f"{provisioned} is missing"


def test_grafana_datasource_is_the_compose_prometheus(
    services: dict[str, Any], datasource: dict[str, Any]
) -> None:
    assert datasource["type"] == "prometheus"
    assert datasource["uid"]
    url = urlsplit(datasource["url"])
    assert url.hostname == "prometheus"
    assert url.port in listening_ports(services["prometheus"])


def test_grafana_dashboard_provider_reads_the_mounted_dashboards(
    services: dict[str, Any],
) -> None:
    providers = load_yaml(DASHBOARD_PROVIDER_FILE)["providers"]
    assert providers, "no dashboard provider"
    for provider in providers:
        path = provider["options"]["path"]
        assert grafana_mount_source(services, path) == DASHBOARDS_DIR.resolve()


def test_grafana_home_dashboard_exists(services: dict[str, Any]) -> None:
    home = environment(services["grafana"]).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home is None:
        pytest.skip("no home dashboard configured")
    folder, _, name = home.rpartition("/")
    assert (grafana_mount_source(services, folder) / name).is_file(), home


def test_grafana_allows_anonymous_viewers(services: dict[str, Any]) -> None:
    env = environment(services["grafana"])
    assert env.get("GF_AUTH_ANONYMOUS_ENABLED") == "true"
    assert env.get("GF_AUTH_ANONYMOUS_ORG_ROLE") == "Viewer"


def test_dashboards_are_valid_and_use_the_provisioned_datasource(
    datasource: dict[str, Any],
) -> None:
    files = dashboard_files()
    assert files, "dashboards/ holds no JSON dashboard"
    uids = []
    for path in files:
        dashboard = json.loads(path.read_text())
        assert dashboard.get("uid"), f"{path.name}: no uid"
        assert dashboard.get("title"), f"{path.name}: no title"
        uids.append(dashboard["uid"])
        panels = list(all_panels(dashboard.get("panels", [])))
        assert panels, f"{path.name}: no panels"
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids {ids}"
        for panel in panels:
            if panel.get("type") == "row":
                continue
            where = f"{path.name}: panel {panel.get('title')!r}"
            assert panel.get("datasource", {}).get("uid") == datasource["uid"], where
            assert panel.get("targets"), f"{where} has no queries"
            for target in panel["targets"]:
                assert target.get("expr"), f"{where}: a query without expr"
                uid = target.get("datasource", {}).get("uid", datasource["uid"])
                assert uid == datasource["uid"], where
    assert len(uids) == len(set(uids)), f"duplicate dashboard uids: {uids}"


def test_overview_dashboard_has_the_agreed_panels() -> None:
    dashboard = json.loads((DASHBOARDS_DIR / "transitstream-overview.json").read_text())
    assert dashboard["title"] == "TransitStream overview"
    exprs = {
        panel["title"]: panel["targets"][0]["expr"]
        for panel in all_panels(dashboard["panels"])
        if panel.get("type") != "row"
    }
    assert exprs.get("Targets up") == "up"
    assert "projector_consumer_lag" in exprs.get("Consumer lag", "")
    assert "serve_request_seconds_bucket" in exprs.get("API request latency p99", "")
    assert "up{" in exprs.get("Job health", "")


PROMQL_WORDS = {"sum", "by", "rate", "max", "min", "histogram_quantile", "le", "up", "avg"}


def test_dashboards_query_only_metrics_the_code_exports() -> None:
    """A renamed metric would leave a panel silently empty: every name must exist in the code."""
    source = "\n".join(p.read_text() for p in (ROOT / "transitstream").rglob("*.py"))
    for path in dashboard_files():
        for panel in all_panels(json.loads(path.read_text()).get("panels", [])):
            for target in panel.get("targets", []):
                expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", target["expr"])  # labels, ranges
                for word in set(re.findall(r"[a-z_][a-z0-9_]*", expr)) - PROMQL_WORDS:
                    if word in ("job", "query", "topic", "table", "route", "reason"):
                        continue  # label names in `by (...)`
                    name = re.sub(r"_bucket$", "", word)
                    assert f'"{name}"' in source, f"{path.name}: {panel['title']}: {name}?"
