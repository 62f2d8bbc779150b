"""The stream job's pandas side without a JVM: the group function Spark calls per route (event
time to epoch ms, rows to the brain), and the batch writer's check for writer schemas registered
after the query was planned."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.unit.test_stream_brain import route_events
from transitstream.config import PredictSettings, load_settings
from transitstream.gtfs import load_feed
from transitstream.predict import Catalog
from transitstream.schemas import load, topic_schemas
from transitstream.stream import jobs
from transitstream.stream.brain import ANOMALY, ENRICHED, ETA, RouteBrain
from transitstream.stream.encode import DLQ, OutputSchema, encode_value
from transitstream.wire import encode, header, parse_schema


class State:
    """What `applyInPandasWithState` hands the function: the stored tuple, and an update."""

    def __init__(self) -> None:
        self.value: tuple[Any, ...] | None = None

    @property
    def exists(self) -> bool:
        return self.value is not None

    @property
    def get(self) -> tuple[Any, ...]:
        assert self.value is not None
        return self.value

    def update(self, value: tuple[Any, ...]) -> None:
        self.value = value


def outputs() -> dict[str, OutputSchema]:
    settings = load_settings()
    names = topic_schemas(settings)
    topics = {
        ENRICHED: settings.topics.enriched,
        ETA: settings.topics.eta,
        ANOMALY: settings.topics.anomaly,
        DLQ: settings.topics.position_dlq,
    }
    return {
        k: OutputSchema(t, 40 + i, load(settings, names[t]))
        for i, (k, t) in enumerate(topics.items())
    }


def as_batch(events: list[dict[str, Any]], event_time: pd.Series) -> pd.DataFrame:
    """Positions as the job's Arrow batches hold them (`jobs.EVENT_COLUMNS` and the DLQ pair)."""
    frame = pd.DataFrame(events)
    frame["route_name"] = "route"
    frame["event_time"] = event_time
    frame["dlq_reason"] = None
    frame["raw_value"] = None
    return frame[[*jobs.EVENT_COLUMNS, "dlq_reason", "raw_value"]]


@pytest.mark.parametrize(
    "as_time",
    [
        pytest.param(lambda ms: pd.to_datetime(ms, unit="ms"), id="naive-ns"),  # Spark's, in UTC
        pytest.param(lambda ms: pd.to_datetime(ms, unit="ms", utc=True), id="utc-ns"),
        pytest.param(
            lambda ms: pd.to_datetime(ms, unit="ms", utc=True).dt.tz_convert("America/New_York"),
            id="new-york-ns",
        ),
        pytest.param(lambda ms: pd.to_datetime(ms, unit="ms").astype("datetime64[us]"), id="us"),
    ],
)
def test_the_group_function_gives_the_brains_bytes_whatever_the_time_column(as_time: Any) -> None:
    """Event times reach the function as datetime64 (naive in the session's UTC, or tz-aware):
    each becomes the same epoch ms, so the rows are those of the brain fed the events' ts."""
    _, events = route_events()
    ms = pd.Series([int(e["ts"]) for e in events])  # whole ms, as Avro timestamp-millis
    out = outputs()
    fn = jobs.route_group_fn(str(load_settings().gtfs_path), PredictSettings(), out)
    batch = as_batch([{k: v for k, v in e.items() if k != "ts"} for e in events], as_time(ms))
    state = State()
    (got,) = list(fn(("4",), [batch.iloc[:100], batch.iloc[100:]], state))

    ordered = sorted(events, key=lambda e: (int(e["ts"]), str(e["event_id"])))
    brain = RouteBrain(Catalog(load_feed()), PredictSettings())
    want = brain.process([{**e, "route_name": "route"} for e in ordered])
    assert got["kind"].tolist() == [r.kind for r in want]
    assert got["value"].tolist() == [encode_value(out[r.kind], r.value) for r in want]
    assert state.get == (brain.to_json(),)


def test_a_dead_letter_with_a_writer_registered_since_the_plan_fails_the_batch_to_replan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    out = outputs()
    reader_text = load(settings, "vehicle.position.v1")
    dlq = parse_schema(out[DLQ].text)

    def letter(raw: bytes) -> bytes:
        return encode(out[DLQ].schema_id, dlq, {
            "reason": "r", "error_code": "decode_error", "source": "stream", "raw": raw,
            "content_type": None, "batch_index": None, "vehicle_id": None, "receive_time": 0,
        })  # fmt: skip

    registry: dict[int, str] = {1: reader_text}
    asked: list[str] = []

    def subject_writers(_settings: Any, subject: str) -> dict[int, str]:
        asked.append(subject)
        return dict(registry)

    monkeypatch.setattr(jobs, "subject_writers", subject_writers)
    writer = object.__new__(jobs.BatchWriter)  # no sink: only the check runs
    writer.settings, writer.dlq_schema = settings, out[DLQ].text
    writer.writers, writer.replan = {1: reader_text}, None

    writer._check_writers([letter(header(1) + b"\x81"), letter(b"no header")])
    assert asked == [] and writer.replan is None  # every id planned: the registry is not asked

    writer._check_writers([letter(header(2) + b"\x02")])
    assert asked and writer.replan is None  # id 2 is no version of the subject: a dead letter

    registry[2] = reader_text
    with pytest.raises(jobs.NewWriterSchema, match=r"schema id\(s\) \[2\]"):
        writer._check_writers([letter(header(2) + b"\x02")])
    assert writer.replan == registry
