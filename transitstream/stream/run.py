"""Start a stream job, keep it observable, stop it cleanly.

`available_now=True` processes what is in the topic and stops (tests, notebooks, CI); otherwise
micro-batches run every `Settings.spark.trigger_s` until SIGINT/SIGTERM or `timeout_s`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

from pyspark.errors import StreamingQueryException
from pyspark.sql.streaming import StreamingQuery

from transitstream.config import Settings
from transitstream.errors import TransitStreamError
from transitstream.gtfs import load_feed
from transitstream.schemas import subject
from transitstream.stream.avro import subject_writers
from transitstream.stream.encode import output_schemas
from transitstream.stream.jobs import (
    JOBS,
    BatchWriter,
    job_outputs,
    predict_rows,
    route_reference,
)
from transitstream.stream.metrics import QueryMetrics
from transitstream.stream.session import checkpoint_dir, spark_session
from transitstream.stream.source import read_positions

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    job: str
    query: str
    batches: int = 0
    input_rows: int = 0
    late_rows: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    skipped_replays: int = 0


def query_name(job: str) -> str:
    return f"stream-{job}"


def run_job(
    settings: Settings,
    job: str = "all",
    *,
    available_now: bool = False,
    timeout_s: float | None = None,
    serve_metrics: bool = True,
    stop_session: bool = True,
    stop: threading.Event | None = None,
) -> JobResult:
    """Run `job` until it is done (`available_now`), `timeout_s` passes, SIGINT/SIGTERM comes
    (in the main thread), or `stop` is set (from another thread: a notebook, a test)."""
    if job not in JOBS:
        raise TransitStreamError(f"no stream job {job!r}; choose from {', '.join(JOBS)}")
    name = query_name(job)
    spark = spark_session(settings, f"transitstream-{job}")
    metrics = QueryMetrics(spark, settings, serve=serve_metrics)
    outputs = job_outputs(job, output_schemas(settings))
    writers = subject_writers(settings, subject(settings.topics.position))
    writer = BatchWriter(settings, outputs, name, writers)
    routes = route_reference(spark, load_feed(settings.gtfs_path))

    def start() -> StreamingQuery:
        positions = read_positions(
            spark,
            settings,
            streaming=True,
            writers=writer.writers,
            maxOffsetsPerTrigger=str(settings.spark.max_offsets_per_trigger),
        )
        rows = predict_rows(positions, routes, settings, outputs)
        stream = (
            rows.writeStream.queryName(name)
            .option("checkpointLocation", str(checkpoint_dir(settings, name)))
            .foreachBatch(writer)
        )
        if available_now:
            stream = stream.trigger(availableNow=True)
        else:
            stream = stream.trigger(processingTime=f"{settings.spark.trigger_s} seconds")
        return stream.start()

    query = start()
    stop = stop or threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {
        sig: signal.signal(sig, on_signal)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if threading.current_thread() is threading.main_thread()
    }
    deadline = time.monotonic() + timeout_s if timeout_s else None
    try:
        while not stop.is_set():
            if deadline and time.monotonic() > deadline:
                break
            with contextlib.suppress(StreamingQueryException):  # read from query.exception()
                query.awaitTermination(1)
            if query.isActive:
                continue
            if writer.replan is None:
                break
            # a new version of the positions' schema: plan with it, replay the batch
            log.warning("%s", query.exception())
            writer.writers, writer.replan = writer.replan, None
            query = start()
        if query.isActive:
            query.stop()
        recent = query.recentProgress  # synchronous; the listener's copy may still be on its way
        last_batch = int(json.loads(recent[-1].json)["batchId"]) if recent else None
        batches, input_rows, late_rows = metrics.totals(name, through_batch=last_batch)
        error = query.exception()
        if error is not None and writer.replan is None:  # a pending re-plan wrote nothing
            raise TransitStreamError(f"stream job {job} failed: {error}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        writer.close()
        metrics.close()
        if stop_session:  # py4j may still hold the writer; its sink has let go of the producer
            spark.stop()
    return JobResult(
        job,
        name,
        batches=batches,
        input_rows=input_rows,
        late_rows=late_rows,
        rows_written=dict(writer.rows_written),
        skipped_replays=writer.sink.skipped,
    )
