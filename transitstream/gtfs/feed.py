"""Load a static GTFS feed into immutable records, once per process.

The stdlib `csv` reader is enough: CARTA's 82k stop_times load in well under a second, and the
package stays free of pandas. A feed is cached by path and file stamps, so the simulator, the
stream job and the API in one process share one parse.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import MappingProxyType

from transitstream.gtfs import tables
from transitstream.gtfs.model import Feed, GtfsError
from transitstream.gtfs.reader import FeedSource, Table, cell
from transitstream.gtfs.stop_times import build_stop_times

log = logging.getLogger(__name__)

_CACHE: dict[tuple[object, ...], Feed] = {}
_CACHE_SIZE = 4


def load_feed(path: str | Path | None = None, *, use_cache: bool = True) -> Feed:
    """The feed at `path` (a folder or a zip), by default Settings' `gtfs_path`."""
    if path is None:
        from transitstream.config import get_settings

        path = get_settings().gtfs_path
    path = Path(path).expanduser().resolve()
    key = (path, *_stamp(path))
    if use_cache and key in _CACHE:
        return _CACHE[key]
    with FeedSource(path) as src:
        feed = _parse(src)
    if use_cache:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = feed
    return feed


def _stamp(path: Path) -> tuple[object, ...]:
    """What changes when the feed's files do, so an edited feed is parsed again."""
    if path.is_dir():
        return tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(path.glob("*.txt"))
        )
    if path.is_file():
        st = path.stat()
        return (st.st_mtime_ns, st.st_size)
    return ()


def _table(src: FeedSource, name: str) -> Table:
    table = src.table(name, tables.REQUIRED_COLUMNS[name])
    assert table is not None  # required tables raise instead of returning None
    return table


def _optional(src: FeedSource, name: str) -> Table | None:
    return src.table(name, tables.REQUIRED_COLUMNS[name], optional=True)


def _parse(src: FeedSource) -> Feed:
    routes = tables.parse_routes(_table(src, "routes.txt"))
    stops = tables.parse_stops(_table(src, "stops.txt"))
    trips = tables.parse_trips(_table(src, "trips.txt"), routes)
    shapes_t, calendar_t, dates_t, freq_t = (
        _optional(src, n)
        for n in ("shapes.txt", "calendar.txt", "calendar_dates.txt", "frequencies.txt")
    )
    if calendar_t is None and dates_t is None:
        raise GtfsError(
            f"{src.path} has neither calendar.txt nor calendar_dates.txt, so no trip ever runs; "
            "GTFS requires at least one of them."
        )
    shapes = tables.parse_shapes(shapes_t) if shapes_t is not None else {}
    calendar = tables.parse_calendar(calendar_t) if calendar_t is not None else {}
    calendar_dates = tables.parse_calendar_dates(dates_t) if dates_t is not None else {}
    stop_times = build_stop_times(_table(src, "stop_times.txt"), trips, stops)
    frequencies = tables.parse_frequencies(freq_t, trips) if freq_t is not None else {}

    short = [t for t in trips if len(stop_times.get(t, ())) < 2]
    if short:
        log.warning(
            "%s: dropped %d trip(s) with fewer than 2 stop_times (e.g. %s)",
            src.path,
            len(short),
            short[0],
        )
        for trip_id in short:
            del trips[trip_id]
            stop_times.pop(trip_id, None)
    shapeless = sum(1 for t in trips.values() if t.shape_id not in shapes)
    if shapeless:
        log.warning(
            "%s: %d of %d trips have no usable shape (%s); their polylines are straight lines "
            "between their stops, so distances and map matching are approximate",
            src.path,
            shapeless,
            len(trips),
            "no shapes.txt" if not shapes else "shape_id missing or unknown",
        )
    services = set(calendar) | set(calendar_dates)
    unknown = {t.service_id for t in trips.values()} - services
    if unknown:
        log.warning(
            "%s: service_id(s) %s are in no calendar; those trips never run",
            src.path,
            sorted(unknown)[:5],
        )
    return Feed(
        source=src.path,
        routes=MappingProxyType(routes),
        stops=MappingProxyType(stops),
        trips=MappingProxyType(trips),
        stop_times=MappingProxyType(stop_times),
        shapes=MappingProxyType(shapes),
        calendar=MappingProxyType(calendar),
        calendar_dates=MappingProxyType(calendar_dates),
        frequencies=MappingProxyType(frequencies),
        timezone=_timezone(src),
    )


def _timezone(src: FeedSource) -> str | None:
    """The agency's timezone: service-day times are local to it."""
    table = src.table("agency.txt", (), optional=True)
    if table is None or not table.rows:
        return None
    return cell(table.rows[0], table.col("agency_timezone")) or None
