"""The single source of every address, port, topic name and folder.

Everything is read from environment variables with the prefix ``TRANSITSTREAM_`` and ``__`` for
nesting (``TRANSITSTREAM_KAFKA__PORT=19092``), or from a ``.env`` file in the working directory.
Nothing else in the package hard-codes a port or a topic: call :func:`get_settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from transitstream.errors import ConfigError

ENV_PREFIX = "TRANSITSTREAM_"


def project_root() -> Path:
    """The repository folder when the package is used from a checkout, else the cwd.

    Relative folders in Settings are resolved against it, so a notebook run from `notebooks/`
    and a CLI run from the repository root share one state folder.
    """
    candidate = Path(__file__).resolve().parents[1]
    if (candidate / "pyproject.toml").is_file():
        return candidate
    return Path.cwd()


class KafkaSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    metrics_port: int = Field(9404, ge=1, le=65535, description="JMX exporter (Prometheus)")
    heap_mb: int = Field(512, ge=128, description="broker heap; 512 MB suits a laptop")
    version: str = "4.1.1"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"


class RegistrySettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8081, ge=1, le=65535)
    topic: str = "_schemas"
    default_compatibility: str = "BACKWARD"
    url_override: str | None = Field(
        None, description="point at another registry (e.g. Confluent's) instead of ours"
    )

    @property
    def url(self) -> str:
        return self.url_override or f"http://{self.host}:{self.port}"


class PostgresSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(5432, ge=1, le=65535)
    user: str = "transitstream"
    password: SecretStr = SecretStr("transitstream")
    database: str = "transitstream"
    bin_dir: Path | None = Field(None, description="folder of initdb/postgres; found if unset")
    shared_buffers: str = "128MB"

    def conninfo(self, database: str | None = None) -> str:
        """A libpq connection string; the password stays out of logs via `masked_conninfo`."""
        return (
            f"host={self.host} port={self.port} dbname={database or self.database} "
            f"user={self.user} password={self.password.get_secret_value()}"
        )

    def masked_conninfo(self) -> str:
        return f"postgresql://{self.user}:***@{self.host}:{self.port}/{self.database}"


class PrometheusSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(9090, ge=1, le=65535)
    scrape_interval: str = "5s"
    retention: str = "2d"
    binary: str = "prometheus"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class GrafanaSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(3000, ge=1, le=65535)


class ServiceSettings(BaseModel):
    """A FastAPI service of ours: where it listens."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


DEV_TOKEN = "transitstream-dev-token"


class IngestSettings(ServiceSettings):
    """The ingestor: who may post, how much at once, and which timestamps are believable."""

    port: int = Field(8000, ge=1, le=65535)
    tokens: SecretStr = Field(
        SecretStr(DEV_TOKEN),
        description="comma-separated device tokens; the default is the documented dev token",
    )
    max_batch: int = Field(1000, ge=1, description="events per batch request")
    max_body_bytes: int = Field(2_000_000, ge=1024)
    max_future_s: float = Field(120.0, ge=0, description="clock skew tolerated ahead of now")
    max_past_s: float = Field(2 * 86400.0, ge=0, description="oldest event time accepted")
    producers: int = Field(4, ge=1, description="transactional producers (concurrent requests)")
    instance_id: str = Field("ingest-0", description="stable per instance: fences zombies")
    commit_timeout_s: float = Field(10.0, gt=0)
    retry_after_s: int = Field(2, ge=1)

    def token_set(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.tokens.get_secret_value().split(",") if t.strip())


class ProjectSettings(BaseModel):
    """The Kafka -> Postgres projectors (`transitstream project run`)."""

    host: str = "127.0.0.1"
    metrics_port: int = Field(9406, ge=1, le=65535, description="/metrics and /healthz")
    group_prefix: str = Field("transitstream-projector", description="consumer group prefix")
    batch_max: int = Field(
        2000,
        ge=1,
        description="records per Postgres transaction, at most; 2000 keeps commits near 40 ms at "
        "10,000 records/s (bench/project_throughput.py), 5000 doubled the p99",
    )
    batch_timeout_s: float = Field(0.5, gt=0, description="a partial batch commits after this")
    pool_size: int = Field(4, ge=1, description="Postgres connections in the pool")
    stale_after_s: float = Field(180.0, gt=0, description="a silent vehicle is stale after this")
    notify_channel: str = Field(
        "read_model_changed",
        description="Postgres NOTIFY channel: each committed write wakes the API's poller at once",
    )
    eta_grace_s: float = Field(
        60.0, ge=0, description="an ETA whose predicted time passed this long ago is removed"
    )
    sweep_interval_s: float = Field(5.0, gt=0, description="stale ETAs/vehicles checked this often")
    lag_interval_s: float = Field(5.0, gt=0, description="consumer lag measured this often")
    instance_id: str = Field(
        "project-0", description="stable per instance: a restart takes its partitions back at once"
    )
    session_timeout_s: float = Field(
        10.0, ge=6, description="a projector that died silently loses its partitions after this"
    )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}"


class ApiSettings(ServiceSettings):
    """The read API (`transitstream serve`): queries, WebSocket fan-out, GTFS-realtime."""

    port: int = Field(8080, ge=1, le=65535)
    eta_limit: int = Field(10, ge=1, description="arrivals returned by /eta by default")
    eta_limit_max: int = Field(100, ge=1, description="largest `limit` /eta accepts")
    page_size_max: int = Field(500, ge=1, description="largest page /vehicles returns")
    ws_heartbeat_s: float = Field(15.0, gt=0, description="a WebSocket ping this often")
    ws_queue: int = Field(64, ge=1, description="messages a slow client may lag behind")
    push_interval_s: float = Field(0.5, gt=0, description="read-model changes polled this often")
    realtime_stale_s: float = Field(180.0, gt=0, description="GTFS-rt leaves older vehicles out")
    pool_size: int = Field(8, ge=1, description="Postgres connections in the pool")
    eta_grace_s: float = Field(30.0, ge=0, description="/eta keeps arrivals this far in the past")
    eta_max_age_s: float = Field(
        600.0, gt=0, description="/eta leaves out predictions made longer ago than this"
    )
    ws_send_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a WebSocket client that takes longer to read one message is dropped",
    )
    push_overlap_s: float = Field(
        2.0, ge=0, description="re-scan revisions this recent: a slow commit is not missed"
    )
    shape_tolerance_m: float = Field(
        8.0, ge=0, description="route shapes for the map are simplified to this error"
    )
    workers: int = Field(
        1,
        ge=1,
        description="uvicorn worker processes, each with its own pool, poller and cache",
    )
    cache_entries: int = Field(
        20_000,
        ge=0,
        description="/eta boards (one per stop and route) and vehicles cached per worker (LRU)",
    )
    cache_ttl_s: float = Field(
        30.0,
        gt=0,
        description="a cached answer is read again after this, even if no scan reported a change",
    )


class TopicSettings(BaseModel):
    """Topic names. Their partitions, cleanup and retention live in `infra.topics`."""

    position: str = "vehicle.position.v1"
    position_dlq: str = "vehicle.position.dlq"
    enriched: str = "vehicle.enriched.v1"
    eta: str = "stop.eta.v1"
    anomaly: str = "vehicle.anomaly.v1"
    projector_dlq: str = "projector.dlq"
    stream_commits: str = Field(
        "transitstream.stream.commits", description="last committed batch_id per stream query"
    )
    partitions: int = Field(3, ge=1)


class SimulateSettings(BaseModel):
    """Defaults of `transitstream simulate`; each is also a flag; a `.env` can set a demo's size."""

    vehicles: int = Field(20, ge=1, description="vehicles driving GTFS blocks")
    speedup: float = Field(10.0, ge=1, description="sim seconds per wall second")
    duration_s: float = Field(
        120.0, ge=0, description="wall seconds; 0 = until stopped (speedup 1)"
    )
    report_every_s: float = Field(10.0, gt=0, description="sim seconds between a vehicle's fixes")
    seed: int = 42
    detours: int = Field(2, ge=0, description="vehicles that leave their shape for a stretch")
    stalls: int = Field(2, ge=0, description="vehicles that stop 5-15 sim minutes mid-trip")
    jumps: int = Field(2, ge=0, description="single GPS fixes kilometres off")
    bad_rate: float = Field(0.01, ge=0, le=1, description="bad events per good one, all kinds")
    not_json_rate: float = Field(0.02, ge=0, le=1, description="non-JSON bodies per tick")
    gps_sigma_m: float = Field(4.0, ge=0, description="GPS noise, metres (1 sigma per axis)")
    max_retry_s: float = Field(300.0, gt=0, description="give a batch up after retrying this long")


class SparkSettings(BaseModel):
    """Spark jobs run only while a job runs: sized to sit beside the idle stack on a laptop."""

    master: str = Field("local[*]", description="any Spark master URL; local[*] uses every core")
    driver_memory: str = Field("1g", description="driver JVM heap (local mode: all of Spark)")
    shuffle_partitions: int | None = Field(
        None,
        ge=1,
        description=(
            "spark.sql.shuffle.partitions: the stateful step's Python tasks per micro-batch; "
            "None: the cores of a local master (each task costs ~0.2 s however small), "
            "8 on a cluster (Spark's 200 is for big data)"
        ),
    )
    checkpoint_root: Path = Field(
        Path("spark/checkpoints"),
        description="one sub-folder per streaming query; relative to state_dir",
    )
    ui_enabled: bool = Field(False, description="the Spark web UI (port 4040)")
    ui_port: int = Field(4040, ge=1, le=65535)
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="serve PrometheusServlet metrics on the UI port (turns the UI on)",
    )
    log_level: str = Field("WARN", description="Spark's root log level in jobs")
    trigger_s: float = Field(2.0, gt=0, description="micro-batch interval of the stream jobs")
    watermark_s: int = Field(
        120, ge=0, description="event-time lateness tolerated; later rows are counted, not used"
    )
    max_offsets_per_trigger: int = Field(200_000, ge=1, description="cap one micro-batch's input")
    fetch_max_wait_ms: int = Field(
        50,
        ge=0,
        le=500,
        description=(
            "the Kafka reader's fetch.max.wait.ms. A micro-batch reads each partition to its end, "
            "which under read_committed is often a transaction marker, and a fetch there waits "
            "this long for data that is not coming (Kafka's default, 500 ms, stalled such batches)"
        ),
    )
    exporter_port: int = Field(
        9405, ge=1, le=65535, description="Prometheus metrics of the stream queries' progress"
    )
    exporter_host: str = Field("127.0.0.1", description="0.0.0.0 in a container")


class PredictSettings(BaseModel):
    """Every threshold of map matching, ETAs and anomaly rules, so a deployment tunes them by env.

    Distances are metres, times seconds, speeds m/s. Defaults suit a city bus network reporting
    every 10-30 s with consumer-grade GPS (a few metres of noise).
    """

    match_window_m: float = Field(300.0, gt=0, description="least forward search from last match")
    match_tie_m: float = Field(
        30.0, ge=0, description="legs this much farther than the nearest tie"
    )
    match_chunk_m: float = Field(100.0, gt=0, description="loops longer than this are told apart")
    match_heading_deg: float = Field(90.0, gt=0, le=180, description="heading vs shape, max")
    match_back_m: float = Field(30.0, ge=0, description="backward slack for GPS noise")
    max_speed_ms: float = Field(30.0, gt=0, description="fastest plausible bus; sizes the window")
    reached_m: float = Field(10.0, ge=0, description="a stop this close ahead counts as reached")
    departed_m: float = Field(25.0, ge=0, description="past the first stop by this: departed")
    stop_radius_m: float = Field(40.0, ge=0, description="standing this close to a stop is dwell")
    off_route_m: float = Field(100.0, gt=0, description="offset from the shape that is off-route")
    off_route_fixes: int = Field(3, ge=1, description="consecutive off-route fixes to open")
    stall_radius_m: float = Field(50.0, gt=0, description="moving less than this is standing")
    stall_s: float = Field(180.0, gt=0, description="standing this long between stops: stalled")
    stall_speed_ms: float = Field(1.0, ge=0, description="a reported speed above this is moving")
    jump_speed_ms: float = Field(60.0, gt=0, description="implied speed of an impossible jump")
    jump_min_m: float = Field(250.0, ge=0, description="shorter hops are GPS noise, not jumps")
    jump_max_rejects: int = Field(2, ge=0, description="then the new place is believed")
    late_s: float = Field(300.0, gt=0, description="schedule deviation that is late")
    early_s: float = Field(120.0, gt=0, description="schedule deviation that is early")
    schedule_fixes: int = Field(3, ge=1, description="consecutive fixes to open late/early")
    close_ratio: float = Field(0.8, gt=0, le=1, description="close below this share of threshold")
    severity_warning: float = Field(1.5, gt=1, description="value/threshold: warning from here")
    severity_critical: float = Field(3.0, gt=1, description="value/threshold: critical from here")
    bunching_ratio: float = Field(0.25, gt=0, lt=1, description="headway share that is bunching")
    bunching_max_age_s: float = Field(120.0, gt=0, description="older positions are not compared")
    segment_alpha: float = Field(0.2, gt=0, le=1, description="learning rate of segment times")
    segment_prior_weight: float = Field(10.0, ge=0, description="observations a schedule is worth")
    route_alpha: float = Field(0.005, gt=0, le=1, description="learning rate of a route's line")
    fleet_prior_weight: float = Field(60.0, ge=0, description="timetable pseudo-traversals, fleet")
    route_prior_weight: float = Field(60.0, ge=0, description="fleet pseudo-traversals, a route")
    ratio_clip: float = Field(3.0, gt=1, description="observed/expected clipped to [1/c, c]")
    pace_alpha: float = Field(0.15, gt=0, le=1, description="vehicle pace learning rate")
    pace_prior_s: float = Field(300.0, ge=0, description="expected seconds the prior pace is worth")
    pace_tau_s: float = Field(1200.0, gt=0, description="a vehicle's pace fades over this horizon")
    min_layover_s: float = Field(60.0, ge=0, description="least recovery at a terminal")
    baseline_min_speed_ms: float = Field(3.0, gt=0, description="speed floor of the baseline")
    eta_change_min_s: float = Field(
        20.0, ge=0, description="the stream job republishes an ETA that moved this much"
    )
    eta_change_ratio: float = Field(
        0.1, ge=0, description="or this share of its horizon, if more (both 0: every fix)"
    )
    eta_refresh_s: float = Field(
        120.0, gt=0, description="and an unchanged one this often (below api.eta_max_age_s)"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    state_dir: Path = Field(Path(".transitstream/state"), description="data, logs and PIDs")
    jars_dir: Path = Field(Path(".transitstream/jars"), description="JVM jars from Maven")
    gtfs_path: Path = Field(Path("data/gtfs/carta.zip"), description="GTFS feed folder or zip")
    schemas_dir: Path = Field(Path("schemas"), description="Avro schemas (.avsc)")
    ingest_tokens: SecretStr | None = Field(
        None, description="TRANSITSTREAM_INGEST_TOKENS: shorthand for ingest.tokens"
    )
    java: str = Field("java", description="java binary; JAVA_HOME/bin/java is preferred if set")
    startup_timeout_s: float = Field(90.0, gt=0)
    progress_log: Path = Field(Path("progress_log.md"), description="milestone checkpoints")

    kafka: KafkaSettings = KafkaSettings()
    registry: RegistrySettings = RegistrySettings()
    postgres: PostgresSettings = PostgresSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    grafana: GrafanaSettings = GrafanaSettings()
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()
    project: ProjectSettings = ProjectSettings()
    topics: TopicSettings = TopicSettings()
    simulate: SimulateSettings = SimulateSettings()
    predict: PredictSettings = PredictSettings()
    spark: SparkSettings = SparkSettings()

    @model_validator(mode="after")
    def _etas_outlive_their_refresh(self) -> Settings:
        """The read API hides a prediction older than `eta_max_age_s`, and the stream job
        republishes an unchanged one only every `eta_refresh_s`: a refresh as slow as that
        would empty the boards of buses whose ETAs hold steady."""
        if self.predict.eta_refresh_s >= self.api.eta_max_age_s:
            raise ValueError(
                f"TRANSITSTREAM_PREDICT__ETA_REFRESH_S ({self.predict.eta_refresh_s:g}) must be "
                f"below TRANSITSTREAM_API__ETA_MAX_AGE_S ({self.api.eta_max_age_s:g})"
            )
        return self

    def model_post_init(self, __context: Any) -> None:
        root = project_root()
        if not self.state_dir.is_absolute():
            self.state_dir = root / self.state_dir
        if not self.jars_dir.is_absolute():
            self.jars_dir = root / self.jars_dir
        if not self.progress_log.is_absolute():
            self.progress_log = root / self.progress_log
        if not self.gtfs_path.is_absolute():
            self.gtfs_path = root / self.gtfs_path
        if not self.schemas_dir.is_absolute():
            self.schemas_dir = root / self.schemas_dir
        if not self.spark.checkpoint_root.is_absolute():
            # a copy: the default SparkSettings instance must not learn one state_dir
            self.spark = self.spark.model_copy(
                update={"checkpoint_root": self.state_dir / self.spark.checkpoint_root}
            )
        if self.ingest_tokens is not None:
            self.ingest.tokens = self.ingest_tokens

    def with_spark(self, **update: Any) -> Settings:
        """A copy with some Spark settings changed (a bench's trigger, a test's batch size)."""
        return self.model_copy(update={"spark": self.spark.model_copy(update=update)})

    def kafka_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka's dotted config, built in this one place."""
        return {"bootstrap.servers": self.kafka.bootstrap_servers, **extra}

    def registry_config(self) -> dict[str, Any]:
        return {"url": self.registry.url}


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning a malformed `TRANSITSTREAM_*` value into an error that names it."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            if not loc:  # a rule across settings: its message names them
                cause = (err.get("ctx") or {}).get("error")
                problems.append(str(cause) if cause is not None else err["msg"])
                continue
            var = ENV_PREFIX + "__".join(loc).upper()
            problems.append(f"{var}={err.get('input')!r}: {err['msg']}")
        raise ConfigError(
            "invalid setting(s):\n  " + "\n  ".join(problems) + "\nfix or unset the variable(s)."
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def to_env(settings: Settings) -> dict[str, str]:
    """Settings as `TRANSITSTREAM_*` variables, so a child process sees exactly our Settings."""
    env: dict[str, str] = {}

    def put(name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"{ENV_PREFIX}{name}".upper()] = str(value)

    for name, value in settings:
        if isinstance(value, BaseModel):
            for sub, subvalue in value:
                put(f"{name}__{sub}", subvalue)
        else:
            put(name, value)
    return env
