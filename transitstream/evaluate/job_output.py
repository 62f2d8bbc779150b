"""Score what the stream job actually wrote to `stop.eta.v1` against a simulated run's truth.

`eval eta` runs the model in-process next to both baselines; that proves the method. This
proves the deployed job: every ETA record of the run's vehicles, read back from Kafka
(read_committed), is scored against the true arrivals the simulator recorded (`arrivals.csv`),
next to the timetable for exactly the same predictions (each record carries its scheduled time).
The distance/speed baseline needs the vehicle's speed at prediction time, which the record does
not carry, so it is left to the in-process evaluation.

Only arrivals inside the run's window are known here, so long horizons near the window's end are
under-represented; both columns are scored on the same predictions, so the comparison is fair.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from transitstream.config import Settings
from transitstream.evaluate.eta import BandStat, Scorer, TruthKey, model_wins, stat_of
from transitstream.predict import Prediction
from transitstream.topic_reader import read_topic


@dataclass(frozen=True)
class JobScore:
    stats: list[BandStat]
    records: int  # ETA records of the run's vehicles
    scored: int

    def stat(self, band: str, method: str) -> BandStat | None:
        return stat_of(self.stats, band, method)

    def beats_timetable(self, min_n: int = 1, p90: bool = True) -> bool:
        """Lower mean (and p90, unless told not to) than the timetable in every band with at
        least `min_n` scored predictions."""
        return model_wins(self.stats, ("timetable",), min_n, p90)


def load_truth(run_dir: Path) -> dict[TruthKey, int]:
    with (run_dir / "arrivals.csv").open(newline="", encoding="utf-8") as handle:
        return {
            (r["vehicle_id"], r["trip_id"], int(r["stop_sequence"])): int(r["true_arrival"])
            for r in csv.DictReader(handle)
        }


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else int(value)


def predictions(records: Iterable[Mapping[str, Any]]) -> Iterable[Prediction]:
    """Each record as the model's prediction, and (when it has one) the timetable's."""
    for r in records:
        common = (str(r["stop_id"]), int(r["stop_sequence"]), str(r["vehicle_id"]))
        made = _ms(r["prediction_time"])
        scheduled = _ms(r["scheduled_time"]) if r.get("scheduled_time") is not None else 0
        predicted = _ms(r["predicted_time"])
        ids = (str(r["trip_id"]), str(r["route_id"]))
        yield Prediction(
            *common, *ids, predicted, made, (predicted - made) / 1000, scheduled, "model"
        )
        if scheduled:
            yield Prediction(
                *common, *ids, scheduled, made, (scheduled - made) / 1000, scheduled, "timetable"
            )


def score_job_output(settings: Settings, run_dir: Path) -> JobScore:
    truth = load_truth(run_dir)
    vehicles = {key[0] for key in truth}
    records = [
        r.value
        for r in read_topic(settings, settings.topics.eta)
        if r.value is not None and r.value["vehicle_id"] in vehicles
    ]
    scorer = Scorer(truth)
    scorer.add(predictions(records))
    stats = scorer.stats()
    scored = sum(b.n for b in stats if b.method == "model")
    return JobScore(stats=stats, records=len(records), scored=scored)
