"""Where the simulated window sits in time: the ingestor refuses future events, so this matters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from transitstream.config import load_settings
from transitstream.errors import ConfigError
from transitstream.gtfs import Feed, load_feed, service_day_start
from transitstream.ingest.validate import validate_event
from transitstream.simulate import (
    SimParams,
    Simulation,
    SimulationError,
    make_clock,
    template_date_for,
)
from transitstream.simulate.clock import day_kind, parse_hhmm

NOW = datetime(2026, 11, 25, 17, 46, 12, tzinfo=UTC)  # 12:46 in Chattanooga, a Wednesday


@pytest.fixture(scope="module")
def feed() -> Feed:
    return load_feed(load_settings().gtfs_path)


def test_template_date_keeps_the_kind_of_day_when_the_feed_does_not_cover_today(feed: Feed) -> None:
    assert template_date_for(feed, date(2026, 6, 10)) == date(2026, 6, 10)  # inside the feed
    wednesday = template_date_for(feed, date(2026, 11, 25))
    assert wednesday.weekday() == 2
    assert date(2026, 5, 10) <= wednesday <= date(2026, 8, 22)
    assert template_date_for(feed, date(2026, 11, 28)).weekday() == 5  # Saturday
    assert template_date_for(feed, date(2026, 11, 29)).weekday() == 6  # Sunday
    assert (
        day_kind(date(2026, 11, 27)) == day_kind(date(2026, 11, 23)) != day_kind(date(2026, 11, 28))
    )


def test_default_window_ends_at_now_and_starts_span_minus_duration_before(feed: Feed) -> None:
    clock = make_clock(feed, SimParams(duration_s=120, speedup=10), now=NOW)
    assert clock.end_s is not None
    assert clock.run_date == date(2026, 11, 25)
    assert clock.template_date == date(2026, 8, 19)
    day0 = service_day_start(clock.run_date, "America/New_York")
    now_tod = (NOW - day0).total_seconds()
    assert clock.start_s == pytest.approx(now_tod - 1200 + 120)
    assert clock.end_s == pytest.approx(now_tod + 120)
    # Paced, the window's end is reached 120 wall seconds from now: then it is exactly "now".
    assert clock.due_wall(clock.end_s) == pytest.approx(NOW.timestamp() + 120)
    assert clock.event_ms(clock.end_s) == pytest.approx((NOW.timestamp() + 120) * 1000, abs=1)


@pytest.mark.parametrize(
    ("now", "speedup", "duration"),
    [
        (NOW, 10.0, 120.0),
        (NOW, 1.0, 60.0),
        (NOW, 60.0, 30.0),
        (datetime(2026, 11, 25, 5, 10, tzinfo=UTC), 10.0, 120.0),  # 00:10 local
        (datetime(2026, 3, 8, 7, 30, tzinfo=UTC), 10.0, 300.0),  # DST day, 03:30 local
    ],
)
def test_no_event_is_ever_ahead_of_the_wall_clock(
    feed: Feed, now: datetime, speedup: float, duration: float
) -> None:
    """Paced as `run` paces it, every event's time is <= the wall clock when it is posted."""
    params = SimParams(
        speedup=speedup, duration_s=duration, vehicles=10, detours=0, stalls=0, jumps=0
    )
    sim: Simulation | None
    try:
        sim = Simulation.build(feed, params, now=now)
    except SimulationError:  # no trip in service at that hour: the clock alone is checked
        sim = None
    clock = make_clock(feed, params, now=now)
    for k in range(int(duration * speedup) + 1):
        sim_s = clock.start_s + k
        assert clock.event_ms(sim_s) <= clock.due_wall(sim_s) * 1000 + 1
    assert clock.event_ms(clock.start_s) < now.timestamp() * 1000 + 1
    if sim is None:
        return
    checked = 0
    for tick in sim.ticks():
        wall_ms = sim.clock.due_wall(tick.sim_ms / 1000) * 1000
        assert tick.event_ms <= wall_ms + 1
        for fix in tick.fixes:
            assert fix.body["ts"] <= tick.event_ms
            checked += 1
    assert checked > 0


def test_every_good_event_is_accepted_at_the_moment_it_is_sent(feed: Feed) -> None:
    settings = load_settings().ingest
    sim = Simulation.build(feed, SimParams(vehicles=8, bad_rate=0.0), now=NOW)
    for tick in sim.ticks():
        received = int(sim.clock.due_wall(tick.sim_ms / 1000) * 1000)
        for fix in tick.fixes:
            record, rejection = validate_event(fix.body, received, settings)
            assert rejection is None, rejection
            assert record is not None and record["event_id"] == fix.body["event_id"]


def test_midnight_moves_the_run_date_to_the_previous_service_day(feed: Feed) -> None:
    now = datetime(2026, 11, 25, 5, 10, tzinfo=UTC)  # 00:10 in New York
    clock = make_clock(feed, SimParams(), now=now)
    assert clock.run_date == date(2026, 11, 24)
    assert clock.start_s > 86_400 - 1200  # GTFS time past 24:00 of the 24th
    assert any("run date" in n for n in clock.notes)


def test_start_in_the_past_keeps_today_and_start_in_the_future_moves_back_a_day(
    feed: Feed,
) -> None:
    early = make_clock(feed, SimParams(start_s=parse_hhmm("08:00")), now=NOW)
    assert early.run_date == date(2026, 11, 25)
    assert early.start_s == 8 * 3600
    assert early.end_s == 8 * 3600 + 1200
    late = make_clock(feed, SimParams(start_s=parse_hhmm("14:00")), now=NOW)
    assert late.run_date == date(2026, 11, 24) and late.end_s is not None
    assert late.event_ms(late.end_s) < NOW.timestamp() * 1000
    assert any("moved back" in n for n in late.notes)
    # 12:30 + 20 min would end at 12:50 while the paced run ends at 12:48: one day back.
    edge = make_clock(feed, SimParams(start_s=parse_hhmm("12:30")), now=NOW)
    assert edge.run_date == date(2026, 11, 24)
    fine = make_clock(feed, SimParams(start_s=parse_hhmm("12:20")), now=NOW)
    assert fine.run_date == date(2026, 11, 25)


def test_an_explicit_future_run_date_is_refused_not_shifted(feed: Feed) -> None:
    with pytest.raises(ConfigError, match="ahead of now"):
        make_clock(feed, SimParams(start_s=14 * 3600, run_date=date(2026, 11, 25)), now=NOW)


def test_fast_mode_ends_the_window_at_now_not_duration_later(feed: Feed) -> None:
    clock = make_clock(feed, SimParams(realtime=False), now=NOW)
    assert clock.end_s is not None
    assert clock.event_ms(clock.end_s) == pytest.approx(NOW.timestamp() * 1000, abs=1)


def test_old_windows_are_flagged_and_unbounded_runs_need_real_time(feed: Feed) -> None:
    old = make_clock(
        feed, SimParams(start_s=8 * 3600, run_date=NOW.date() - timedelta(days=3)), now=NOW
    )
    assert any("rejected" in n for n in old.notes)
    with pytest.raises(ConfigError, match="speedup 1"):
        SimParams(duration_s=None, speedup=10)
    unbounded = make_clock(feed, SimParams(duration_s=None, speedup=1), now=NOW)
    assert unbounded.end_s is None
    assert unbounded.event_ms(unbounded.start_s) == pytest.approx(NOW.timestamp() * 1000, abs=1)


@pytest.mark.parametrize(
    ("text", "seconds"), [("08:30", 30600), ("25:10", 90600), ("7:05:09", 25509)]
)
def test_parse_hhmm(text: str, seconds: int) -> None:
    assert parse_hhmm(text) == seconds


@pytest.mark.parametrize("text", ["8", "08:60", "48:00", "ab:cd"])
def test_parse_hhmm_refuses_nonsense(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_hhmm(text)
