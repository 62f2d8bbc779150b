"""Which day's timetable runs, which day the timestamps fall on, and where the window sits.

Two dates, because a published feed is valid for a few months and today may be outside it:

* the *template* date is the service day whose trips run (today if the feed runs today, else a
  date of the feed with the same kind of day, weekday / Saturday / Sunday, as today);
* the *run* date is the day the event times are on: today in the agency's timezone.

An event's time is the run date's service-day start (GTFS: noon minus 12 h local, which is
midnight except on DST days) plus the sim time of day, so a trip scheduled at 08:00:00 on the
template day is reported at 08:00 local on the run date.

The ingestor rejects events more than `max_future_s` (120 s) ahead of its clock, so by default the
window is anchored to *end* at wall-clock now: with speedup S and duration D wall seconds the sim
window is S*D long and starts at `now_tod - S*D + D`. At wall offset w in [0, D] the sim clock
shows `start + S*w`, so an event's time is `now + (w - D) * (S - 1) <= now + w`, which is the wall
clock then: no event is ever in the future (equality only at the very end). A fast run
(`realtime=False`, not paced) reaches its end at once, so its window ends at now instead. A
`--start` that would break this moves the run date back a day. Events older than `max_past_s`
(2 days) would be rejected as too old, which a note says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from transitstream.errors import ConfigError
from transitstream.gtfs import (
    Feed,
    active_service_ids,
    default_service_date,
    service_day_start,
    service_range,
    trips_on,
)
from transitstream.gtfs import format_gtfs_time as fmt
from transitstream.simulate.params import SimParams

FALLBACK_TZ = "UTC"
UNBOUNDED_HORIZON_S = 3600.0
"""An unbounded run picks its vehicles and faults among those in service in its first hour."""


@dataclass(frozen=True)
class SimClock:
    """The mapping between sim time (seconds of the service day) and instants (epoch ms)."""

    timezone: str
    template_date: date
    run_date: date
    day_start_ms: int
    start_s: float
    end_s: float | None
    speedup: float
    wall_start: float
    notes: tuple[str, ...] = ()

    def event_ms(self, sim_s: float) -> int:
        return self.day_start_ms + round(sim_s * 1000)

    def due_wall(self, sim_s: float, wall_start: float | None = None) -> float:
        """The wall instant (epoch s) at which sim time `sim_s` is "now" in a paced run."""
        origin = self.wall_start if wall_start is None else wall_start
        return origin + (sim_s - self.start_s) / self.speedup

    @property
    def horizon_s(self) -> float:
        """Where vehicle selection and fault planning stop looking."""
        return self.end_s if self.end_s is not None else self.start_s + UNBOUNDED_HORIZON_S

    def describe(self) -> str:
        end = fmt(int(self.end_s)) if self.end_s is not None else "until stopped"
        return (
            f"timetable of {self.template_date} ({self.template_date:%a}) replayed on "
            f"{self.run_date} {self.timezone}, {fmt(int(self.start_s))} to {end}, x{self.speedup:g}"
        )


def day_kind(day: date) -> int:
    """0 for Monday-Friday, 5 Saturday, 6 Sunday: the kinds of service a feed distinguishes."""
    return 0 if day.weekday() < 5 else day.weekday()


def template_date_for(feed: Feed, today: date) -> date:
    """Today if the feed runs today; else its busiest date of today's kind, nearest to today."""
    if trips_on(feed, today):
        return today
    first, last = service_range(feed)
    per_service: dict[str, int] = {}
    for trip in feed.trips.values():
        per_service[trip.service_id] = per_service.get(trip.service_id, 0) + 1
    best: tuple[int, int, int, int] | None = None
    best_day: date | None = None
    day = first
    while day <= last:
        n = sum(per_service.get(sid, 0) for sid in active_service_ids(feed, day))
        if n and day_kind(day) == day_kind(today):
            key = (n, day.weekday() == today.weekday(), -abs((day - today).days), -day.toordinal())
            if best is None or key > best:
                best, best_day = key, day
        day += timedelta(days=1)
    return best_day if best_day is not None else default_service_date(feed, near=today)


def make_clock(
    feed: Feed, params: SimParams, now: datetime | None = None, max_past_s: float = 2 * 86400.0
) -> SimClock:
    """Place the window; see the module docstring for why it ends at now by default."""
    tz_name = feed.timezone or FALLBACK_TZ
    notes: list[str] = []
    if feed.timezone is None:
        notes.append(f"agency.txt names no timezone; times are taken as {FALLBACK_TZ}")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(ZoneInfo(tz_name)).date()
    template = params.template_date or template_date_for(feed, today)
    if template != today and params.template_date is None:
        notes.append(f"the feed does not run on {today}; replaying its timetable of {template}")
    span = params.span_s
    # A paced run reaches the window's end `duration` wall seconds from now; a fast one at once.
    lag = params.duration_s if params.duration_s is not None and params.realtime else 0.0
    run = params.run_date or today

    def tod(day: date) -> float:
        return (now - service_day_start(day, tz_name)).total_seconds()

    if params.start_s is None:
        # Today's time of day; on an explicit run date too ("the same hour, on that day").
        start = tod(today) - (span or 0.0) + lag
        if params.run_date is None and start < 0:
            run = today - timedelta(days=1)
            start = tod(run) - (span or 0.0) + lag
            notes.append(f"the window starts before {today}'s service day: run date is {run}")
    else:
        start = params.start_s
    end = None if span is None else start + span

    def ahead_s(day: date) -> float:
        """How far the window's last event would be ahead of the wall clock at that moment."""
        return (
            service_day_start(day, tz_name).timestamp()
            + start
            + (span or 0.0)
            - (now.timestamp() + lag)
        )

    if ahead_s(run) > 1e-6:
        if params.run_date is not None:
            raise ConfigError(
                f"run date {run} with start {fmt(int(start))} puts events up to "
                f"{ahead_s(run):.0f} s ahead of now, which the ingestor rejects; pick an "
                "earlier --run-date or --start"
            )
        while ahead_s(run) > 1e-6:
            run -= timedelta(days=1)
        notes.append(
            f"start {fmt(int(start))} on {today} would put events in the future: run date moved "
            f"back to {run}"
        )
    day_start = service_day_start(run, tz_name)
    if now.timestamp() - (day_start.timestamp() + start) > max_past_s:
        notes.append(
            f"events start {(now.timestamp() - day_start.timestamp() - start) / 3600:.0f} h "
            f"ago, beyond the ingestor's {max_past_s / 3600:.0f} h: they will be rejected"
        )
    return SimClock(
        timezone=tz_name,
        template_date=template,
        run_date=run,
        day_start_ms=math.floor(day_start.timestamp() * 1000),
        start_s=start,
        end_s=end,
        speedup=params.speedup,
        wall_start=now.timestamp(),
        notes=tuple(notes),
    )


def parse_hhmm(text: str) -> float:
    """`HH:MM` or `HH:MM:SS` to service-day seconds; hours may pass 24 as in GTFS."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ConfigError(f"--start {text!r} is not HH:MM (e.g. 08:30, or 25:10 after midnight)")
    h, m, s = (int(p) for p in [*parts, "0"][:3])
    if h > 47 or m > 59 or s > 59:
        raise ConfigError(f"--start {text!r} is out of range (hours 0-47)")
    return float(h * 3600 + m * 60 + s)
