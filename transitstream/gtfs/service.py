"""Which trips run on a date, and when a service day starts in absolute time.

A simulation has to pick a service date the feed actually covers (a published feed is valid for a
few months and today's date may be outside it), so `default_service_date` chooses one from the
feed itself.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from transitstream.gtfs.model import Feed, GtfsError, Trip

ADDED, REMOVED = 1, 2  # calendar_dates.exception_type


def service_range(feed: Feed) -> tuple[date, date]:
    """First and last date any calendar or calendar_dates entry mentions."""
    days: list[date] = []
    for cal in feed.calendar.values():
        days += (cal.start_date, cal.end_date)
    for exceptions in feed.calendar_dates.values():
        days += exceptions.keys()
    if not days:
        raise GtfsError(f"{feed.source}: calendar.txt and calendar_dates.txt are both empty.")
    return min(days), max(days)


def is_active(feed: Feed, service_id: str, day: date) -> bool:
    """calendar_dates overrides calendar for its date, in both directions."""
    exception = feed.calendar_dates.get(service_id, {}).get(day)
    if exception is not None:
        return exception == ADDED
    cal = feed.calendar.get(service_id)
    return cal is not None and cal.start_date <= day <= cal.end_date and cal.weekdays[day.weekday()]


def active_service_ids(feed: Feed, day: date) -> frozenset[str]:
    ids = set(feed.calendar) | set(feed.calendar_dates)
    return frozenset(sid for sid in ids if is_active(feed, sid, day))


def trips_on(feed: Feed, day: date) -> list[Trip]:
    """Trips of the service day `day`, by first departure (they may run past midnight into the
    next calendar day: their times are then above 24:00:00)."""
    active = active_service_ids(feed, day)
    trips = [t for t in feed.trips.values() if t.service_id in active]
    trips.sort(key=lambda t: (feed.stop_times[t.trip_id][0].departure_s, t.trip_id))
    return trips


def trip_counts(feed: Feed) -> Counter[str]:
    """Trips per service_id."""
    key = ("trip_counts",)
    if key not in feed.cache:
        feed.cache[key] = Counter(t.service_id for t in feed.trips.values())
    return feed.cache[key]


def default_service_date(feed: Feed, near: date | None = None) -> date:
    """A date with the most trips in the feed's range: the earliest, or the one closest to `near`.

    Deterministic without `near`, so a seeded simulation replays the same day whenever it runs.
    A weekday holiday running Saturday service loses to an ordinary weekday, as it should.
    """
    first, last = service_range(feed)
    counts = trip_counts(feed)
    best: list[date] = []
    best_n = 0
    day = first
    while day <= last:
        n = sum(counts[sid] for sid in active_service_ids(feed, day))
        if n > best_n:
            best, best_n = [day], n
        elif n == best_n and n > 0:
            best.append(day)
        day += timedelta(days=1)
    if not best:
        raise GtfsError(f"{feed.source}: no trip runs on any date from {first} to {last}.")
    if near is None:
        return best[0]
    return min(best, key=lambda d: (abs((d - near).days), d))


def service_day_start(day: date, timezone: str) -> datetime:
    """The instant GTFS times of `day` count from: noon minus 12 h, local time (in UTC).

    That is midnight except on the days clocks change, when it is an hour off midnight; using
    the GTFS definition keeps a trip's 08:00:00 at 08:00 local on those days too.
    """
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(timezone))
    return noon.astimezone(UTC) - timedelta(hours=12)
