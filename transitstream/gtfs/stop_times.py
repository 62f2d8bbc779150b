"""Build each trip's ordered stop_times, the biggest table of a feed, so it has its own module.

Blank times (allowed for stops that are not timepoints) are interpolated here, once, so that every
consumer can rely on `arrival_s` and `departure_s` being integers.
"""

from __future__ import annotations

import itertools

from transitstream.gtfs.model import GtfsError, Stop, StopTime, Trip, parse_gtfs_time
from transitstream.gtfs.reader import HINT, Table, row_error

# seq, stop_id, arrival, departure, shape_dist_traveled, exact
_Raw = tuple[int, str, int | None, int | None, float | None, bool]


def build_stop_times(
    t: Table, trips: dict[str, Trip], stops: dict[str, Stop]
) -> dict[str, tuple[StopTime, ...]]:
    col = t.col
    c_trip, c_arr, c_dep, c_stop, c_seq = (
        col(n) for n in ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence")
    )
    assert None not in (c_trip, c_arr, c_dep, c_stop, c_seq)  # required columns, checked by reader
    c_dist, c_tp = col("shape_dist_traveled"), col("timepoint")
    # Times repeat a lot (buses leave on the minute): parse each distinct string once.
    times: dict[str, int | None] = {"": None}
    raw: dict[str, list[_Raw]] = {}
    for i, row in enumerate(t.rows):
        trip_id = row[c_trip].strip()  # type: ignore[index]
        stop_id = row[c_stop].strip()  # type: ignore[index]
        trip = trips.get(trip_id)
        if trip is None:
            raise row_error(t, i, f"trip_id {trip_id!r} is not in trips.txt")
        stop = stops.get(stop_id)
        if stop is None:
            raise row_error(t, i, f"stop_id {stop_id!r} is not in stops.txt")
        a_s, d_s = row[c_arr].strip(), row[c_dep].strip()  # type: ignore[index]
        try:
            arr = times[a_s] if a_s in times else times.setdefault(a_s, parse_gtfs_time(a_s))
            dep = times[d_s] if d_s in times else times.setdefault(d_s, parse_gtfs_time(d_s))
            seq = int(row[c_seq])  # type: ignore[index]
            dist_s = row[c_dist].strip() if c_dist is not None else ""
            dist = float(dist_s) if dist_s else None
        except ValueError as exc:
            raise row_error(t, i, exc) from None
        if arr is None:
            arr = dep
        elif dep is None:
            dep = arr
        exact = arr is not None and (c_tp is None or row[c_tp].strip() != "0")
        raw.setdefault(trip.trip_id, []).append((seq, stop.stop_id, arr, dep, dist, exact))
    return {trip_id: _build_trip(trip_id, rows) for trip_id, rows in raw.items()}


def _build_trip(trip_id: str, rows: list[_Raw]) -> tuple[StopTime, ...]:
    rows.sort(key=lambda r: r[0])
    for a, b in itertools.pairwise(rows):
        if a[0] == b[0]:
            raise GtfsError(
                f"stop_times.txt: trip {trip_id!r} has stop_sequence {a[0]} twice; "
                f"fix the feed or {HINT}."
            )
    arrivals, departures = _fill_times(trip_id, rows)
    return tuple(
        StopTime(trip_id, seq, stop_id, arr, dep, dist, exact)
        for (seq, stop_id, _, _, dist, exact), arr, dep in zip(
            rows, arrivals, departures, strict=True
        )
    )


def _fill_times(trip_id: str, rows: list[_Raw]) -> tuple[list[int], list[int]]:
    """Interpolate blank times between timed stops, by shape distance when known, else by index."""
    arrivals = [r[2] for r in rows]
    departures = [r[3] for r in rows]
    if arrivals[0] is None or arrivals[-1] is None:
        raise GtfsError(
            f"stop_times.txt: trip {trip_id!r} has no time at its first or last stop, which GTFS "
            f"requires; fix the feed or {HINT}."
        )
    if None not in arrivals:
        return arrivals, departures  # type: ignore[return-value]
    timed = [i for i, a in enumerate(arrivals) if a is not None]
    for lo, hi in itertools.pairwise(timed):
        if hi - lo < 2:
            continue
        start, end = departures[lo], arrivals[hi]
        assert start is not None and end is not None
        dists = [r[4] for r in rows[lo : hi + 1]]
        if None in dists or dists[-1] == dists[0]:
            weights = [(k - lo) / (hi - lo) for k in range(lo, hi + 1)]
        else:
            d0, span = dists[0], dists[-1] - dists[0]  # type: ignore[operator]
            weights = [(d - d0) / span for d in dists]  # type: ignore[operator]
        for k in range(lo + 1, hi):
            value = round(start + (end - start) * weights[k - lo])
            arrivals[k] = departures[k] = value
    return arrivals, departures  # type: ignore[return-value]
