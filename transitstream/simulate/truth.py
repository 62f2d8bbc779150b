"""The ground truth of a run, on disk, for whatever later checks the pipeline against it.

`arrivals.csv` is what ETA accuracy is measured against (true arrival, not a GPS guess),
`anomalies.csv` what the anomaly detectors must find, `bad_events.csv` what the ingestor must
reject (and what it said), `run.json` how the run was made and what it counted. Times are epoch
milliseconds (UTC instants), like the events' `ts`. At a trip's first stop `true_arrival` is
when the vehicle got there (its layover began) and `true_departure` when it left; a stop skipped
by a detour has no row. Arrivals are appended as they happen, so an interrupted run still leaves
a usable truth.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from transitstream.simulate.faults import Anomaly
from transitstream.simulate.generate import Arrival

ARRIVAL_COLUMNS = (
    "vehicle_id",
    "trip_id",
    "route_id",
    "stop_id",
    "stop_sequence",
    "scheduled_arrival",
    "true_arrival",
    "true_departure",
)
ANOMALY_COLUMNS = ("vehicle_id", "kind", "trip_id", "route_id", "start_time", "end_time", "detail")
BAD_COLUMNS = ("tick", "vehicle_id", "kind", "expected_code", "server_code")


class TruthWriter:
    """Open the three CSV files under `out_dir` (created), write as the run goes, close once."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self._files: list[IO[str]] = []
        self._arrivals = self._open("arrivals.csv", ARRIVAL_COLUMNS)
        self._bad = self._open("bad_events.csv", BAD_COLUMNS)
        self.arrival_count = 0

    def _open(self, name: str, columns: tuple[str, ...]) -> Any:
        handle = (self.out_dir / name).open("w", newline="", encoding="utf-8")
        self._files.append(handle)
        writer = csv.writer(handle)
        writer.writerow(columns)
        return writer

    @property
    def paths(self) -> dict[str, Path]:
        names = ("arrivals.csv", "anomalies.csv", "bad_events.csv", "run.json")
        return {n.split(".")[0]: self.out_dir / n for n in names}

    def arrivals(self, rows: Iterable[Arrival]) -> None:
        for a in rows:
            self._arrivals.writerow(
                (
                    a.vehicle_id,
                    a.trip_id,
                    a.route_id,
                    a.stop_id,
                    a.stop_sequence,
                    a.scheduled_ms,
                    a.true_ms,
                    "" if a.departure_ms is None else a.departure_ms,
                )
            )
            self.arrival_count += 1

    def bad_event(
        self, tick: int, vehicle_id: str | None, kind: str, expected: str, server: str
    ) -> None:
        self._bad.writerow((tick, vehicle_id or "", kind, expected, server))

    def anomalies(self, rows: Iterable[Anomaly]) -> None:
        with (self.out_dir / "anomalies.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(ANOMALY_COLUMNS)
            for a in rows:
                detail = json.dumps(a.detail, sort_keys=True)
                writer.writerow(
                    (a.vehicle_id, a.kind, a.trip_id, a.route_id, a.start_ms, a.end_ms, detail)
                )

    def run_json(self, data: dict[str, Any]) -> None:
        path = self.out_dir / "run.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        tmp.replace(path)

    def flush(self) -> None:
        for handle in self._files:
            handle.flush()

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        self._files.clear()
