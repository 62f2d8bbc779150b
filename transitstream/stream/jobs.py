"""The stream jobs: read positions → join the route reference → stateful per-route processing →
write enriched positions, ETAs and anomalies to Kafka exactly once.

One query does the work of all three outputs (map matching is needed by each, so doing it once
is cheaper); `enrich`, `eta` and `anomalies` run the same query but keep only their topic, each
with its own checkpoint, for learners who want to watch one at a time.

read → transform → write:
  * read: `source.read_positions` (Kafka, read_committed, Avro decoded by schema id);
  * transform: `predict_rows` (pure DataFrame → DataFrame; the state lives in Spark's state
    store, versioned per micro-batch, so a replayed batch reproduces the same rows);
  * write: `foreachBatch` into `sink.ExactlyOnceSink` (one Kafka transaction per micro-batch,
    with the batch id recorded in the same transaction).

The rows leave the workers already Avro-encoded (`encode.py`): the driver only moves bytes, via
Arrow, into the producer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.state import GroupState, GroupStateTimeout
from pyspark.sql.types import BinaryType, StringType, StructField, StructType

from transitstream.config import PredictSettings, Settings
from transitstream.errors import TransitStreamError
from transitstream.gtfs import Feed, load_feed
from transitstream.predict import Catalog
from transitstream.schemas import subject
from transitstream.stream.avro import Writers, subject_writers, unplanned_writer_ids
from transitstream.stream.brain import ANOMALY, ENRICHED, ETA, KINDS, OutRow, RouteBrain
from transitstream.stream.encode import DLQ, OutputSchema, encode_value
from transitstream.stream.session import checkpoint_dir
from transitstream.stream.sink import ExactlyOnceSink, TopicRecords

log = logging.getLogger(__name__)

JOBS: dict[str, tuple[str, ...]] = {
    "all": KINDS,
    "enrich": (ENRICHED,),
    "eta": (ETA,),
    "anomalies": (ANOMALY,),
}
OUTPUT = StructType(
    [
        StructField("kind", StringType(), False),
        StructField("key", StringType(), True),
        StructField("value", BinaryType(), False),  # Confluent wire-format Avro
    ]
)
STATE = StructType([StructField("brain", StringType(), True)])
EVENT_COLUMNS = [
    "route_id", "route_name", "vehicle_id", "trip_id", "event_id",
    "lat", "lon", "bearing", "speed", "event_time",
]  # fmt: skip

_CATALOGS: dict[str, Catalog] = {}  # one per Python worker process, built on first use


def _catalog(gtfs_path: str) -> Catalog:
    if gtfs_path not in _CATALOGS:
        _CATALOGS[gtfs_path] = Catalog(load_feed(gtfs_path))
    return _CATALOGS[gtfs_path]


def route_reference(spark: SparkSession, feed: Feed) -> DataFrame:
    """The static side of the join: every route of the feed, small enough to broadcast.

    Built as an inline table (a `LocalRelation` in the plan), not `createDataFrame(list)`: that
    one is a Python RDD, so every micro-batch ran a Spark job of Python tasks (~270 ms) just to
    broadcast a few dozen routes again. Values are bound parameters, so no name needs quoting.
    """
    rows = [(r.route_id, r.name) for r in feed.routes.values()]
    if not rows:
        return spark.createDataFrame([], "route_id string, route_name string")
    values = ", ".join(["(?, ?)"] * len(rows))
    return spark.sql(
        f"SELECT * FROM VALUES {values} AS routes(route_id, route_name)",
        args=[x for row in rows for x in row],
    )


def dead_letter(row: dict[str, Any]) -> OutRow:
    """A position the job cannot use, as a `vehicle.position.dlq` record with its raw bytes."""
    raw = row.get("raw_value")
    value = {
        "reason": row["dlq_reason"],
        "error_code": "decode_error" if row.get("event_id") is None else "unknown_route",
        "source": "stream",
        "raw": bytes(raw) if raw is not None else b"",
        "content_type": None,
        "batch_index": None,
        "vehicle_id": row.get("vehicle_id"),
        # the Kafka timestamp (event time fell back to it): the same on a replay
        "receive_time": int(pd.Timestamp(row["event_time"]).value // 1_000_000),
    }
    return OutRow(DLQ, str(row.get("vehicle_id") or ""), value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """`frame.to_dict("records")`, at a third of its cost (whole columns to Python at once)."""
    names = list(frame.columns)
    columns = [frame[n].tolist() for n in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def route_group_fn(
    gtfs_path: str, predict: PredictSettings, outputs: dict[str, OutputSchema]
) -> Callable[[Any, Iterable[pd.DataFrame], GroupState], Iterable[pd.DataFrame]]:
    """The function Spark calls per route and micro-batch, with that route's stored state.

    `outputs` holds the kinds the job writes (DLQ always): rows of other kinds are not encoded.
    """

    def fn(key: Any, pdfs: Iterable[pd.DataFrame], state: GroupState) -> Iterator[pd.DataFrame]:
        batch = pd.concat(list(pdfs), ignore_index=True)
        bad = batch["dlq_reason"].notna()
        rows = [dead_letter(r) for r in batch[bad].to_dict("records")]
        good = batch[~bad].drop(columns=["dlq_reason", "raw_value"])
        if len(good):
            stored = state.get[0] if state.exists else None
            brain = RouteBrain.from_json(stored, _catalog(gtfs_path), predict)
            good["ts"] = good["event_time"].dt.as_unit("ms").astype("int64")  # epoch ms
            good = good.sort_values(["ts", "event_id"], kind="stable")
            rows += brain.process(_records(good.drop(columns=["event_time"])))
            state.update((brain.to_json(),))
        rows = [r for r in rows if r.kind in outputs]
        yield pd.DataFrame(
            {
                "kind": [r.kind for r in rows],
                "key": [r.key for r in rows],
                "value": [encode_value(outputs[r.kind], r.value) for r in rows],
            },
            columns=["kind", "key", "value"],
        )

    return fn


def predict_rows(
    positions: DataFrame,
    routes: DataFrame,
    settings: Settings,
    outputs: dict[str, OutputSchema],
) -> DataFrame:
    """Decoded positions → (kind, key, Avro value) rows for the three topics, plus DLQ rows.

    One pass over the source: positions are left-joined with the route reference, and a record
    that could not be decoded, or names a route the reference does not know, is flagged and
    comes out of the same stateful step as a dead letter with its reason (counted and kept,
    never silently dropped). Its event time falls back to the Kafka timestamp so that the
    watermark does not discard it.
    """
    flagged = (
        positions.join(F.broadcast(routes), "route_id", "left")
        .withColumn(
            "dlq_reason",
            F.when(F.col("decode_error").isNotNull(), F.col("decode_error")).when(
                F.col("route_name").isNull(),
                F.lit("unknown route: not in the GTFS reference, or no route_id"),
            ),
        )
        .withColumn("event_time", F.coalesce("event_time", "timestamp"))
        .withColumn("route_id", F.when(F.col("dlq_reason").isNull(), F.col("route_id")))
    )
    return (
        flagged.select(*EVENT_COLUMNS, "dlq_reason", "raw_value")
        .withWatermark("event_time", f"{settings.spark.watermark_s} seconds")
        .groupBy("route_id")
        .applyInPandasWithState(
            route_group_fn(str(settings.gtfs_path), settings.predict, outputs),
            OUTPUT,
            STATE,
            "append",
            GroupStateTimeout.NoTimeout,
        )
    )


def job_outputs(job: str, outputs: dict[str, OutputSchema]) -> dict[str, OutputSchema]:
    """The kinds a job writes: its topics, and always the dead letters."""
    return {kind: o for kind, o in outputs.items() if kind in JOBS[job] or kind == DLQ}


def _keys(column: pa.ChunkedArray) -> list[bytes | None]:
    """A batch's string keys as the producer takes them: UTF-8 bytes, no key for an empty one."""
    return [k or None for k in column.cast(pa.binary()).to_pylist()]


class NewWriterSchema(TransitStreamError):
    """A batch holds positions written with a schema version registered after the query was
    planned: the job re-plans with it and Spark replays the batch (nothing of it was written)."""


class BatchWriter:
    """The foreachBatch function: the batch's encoded rows, written once (one transaction).

    Before writing, it looks at the batch's dead letters: one whose bytes carry a schema id the
    plan had no writer for, and that the registry now lists under the positions' subject, is a
    good record the plan could not read yet. Then the batch fails unwritten, `replan` holds the
    subject's versions, and `run_job` starts the query again with them.
    """

    def __init__(
        self,
        settings: Settings,
        outputs: dict[str, OutputSchema],
        query: str,
        writers: Writers,
    ) -> None:
        self.settings = settings
        self.topics = {kind: o.topic for kind, o in outputs.items()}
        self.dlq_schema = outputs[DLQ].text
        self.writers = writers
        self.replan: dict[int, str] | None = None
        self.sink = ExactlyOnceSink(settings, query, checkpoint_dir(settings, query))
        self.rows_written: dict[str, int] = dict.fromkeys(self.topics, 0)

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        table = df.toArrow()  # columnar to the driver: no Row object per record
        kind = table.column("kind")
        by_kind = {k: table.filter(pc.equal(kind, k)) for k in self.topics}
        self._check_writers(by_kind[DLQ].column("value").to_pylist())
        out = [
            TopicRecords(
                self.topics[k], _keys(rows.column("key")), rows.column("value").to_pylist()
            )
            for k, rows in by_kind.items()
            if rows.num_rows
        ]
        if self.sink.write(batch_id, out):
            for k, rows in by_kind.items():
                self.rows_written[k] += rows.num_rows

    def _check_writers(self, dead_letters: list[bytes]) -> None:
        unplanned = unplanned_writer_ids(dead_letters, self.dlq_schema, self.writers)
        if not unplanned:
            return
        now = subject_writers(self.settings, subject(self.settings.topics.position))
        registered = sorted(unplanned & now.keys())
        if registered:
            self.replan = now
            raise NewWriterSchema(
                f"positions written with schema id(s) {registered}, registered after the query "
                "started: re-planning with them and replaying the batch"
            )

    def close(self) -> None:
        self.sink.close()
