"""Loading GTFS: the real CARTA feed, crafted small feeds for edge cases, and the calendar."""

from __future__ import annotations

import itertools
import logging
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from transitstream.config import load_settings
from transitstream.errors import TransitStreamError
from transitstream.gtfs import (
    Feed,
    GtfsError,
    active_service_ids,
    default_service_date,
    format_gtfs_time,
    haversine_m,
    load_feed,
    parse_gtfs_time,
    service_day_start,
    service_range,
    trip_shape,
    trips_on,
)

CARTA = Path(__file__).resolve().parents[2] / "data" / "gtfs" / "carta.zip"


@pytest.fixture(scope="module")
def carta() -> Feed:
    return load_feed(CARTA)


def write_feed(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


# A small feed: weekday service WK (two trips) and SP, a service that exists only as an added
# date (MLK day, when WK is removed). T3 runs past midnight.
MINI = {
    "routes.txt": "\ufeffroute_id , route_short_name,route_long_name ,route_type\nR1,1,One,3\n",
    "stops.txt": (
        "stop_id,stop_name,stop_lat,stop_lon\n"
        "A,Alpha,35.0000,-85.0000\nB,Bravo,35.0000,-84.9900\nC,Charlie,35.0100,-84.9900\n"
    ),
    "trips.txt": "route_id,service_id,trip_id,shape_id\nR1,WK,T1,\nR1,WK,T2,\nR1,SP,T3,\n",
    "stop_times.txt": (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence,shape_dist_traveled,timepoint\n"
        "T1,08:00:00,08:00:00,A,1,0,1\n"
        "T1,,,B,2,300,0\n"
        "T1,08:10:00,08:11:00,C,3,1000,1\n"
        "T2, 7:40:00,,C,10,,\n"
        "T2,07:30:00,07:30:00,A,5,,\n"
        "T3,24:50:00,24:50:00,C,1,,\n"
        "T3,25:10:00,25:10:00,A,2,,\n"
    ),
    "calendar.txt": (
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "WK,1,1,1,1,1,0,0,20260105,20260130\n"
    ),
    "calendar_dates.txt": (
        "service_id,date,exception_type\nWK,20260119,2\nSP,20260119,1\nWK,20260131,1\n"
    ),
}


@pytest.fixture
def mini(tmp_path: Path) -> Feed:
    return load_feed(write_feed(tmp_path / "mini", MINI))


# --- the real feed --------------------------------------------------------------------------------


def test_carta_counts(carta: Feed) -> None:
    assert len(carta.routes) == 14
    assert len(carta.stops) == 1163
    assert len(carta.trips) == 1848
    assert sum(len(s) for s in carta.stop_times.values()) == 82_644
    assert len(carta.shapes) == 62
    assert carta.timezone == "America/New_York"
    assert {r.route_type for r in carta.routes.values()} == {3}
    assert carta.routes["10A"].name == "10A" and carta.routes["10A"].long_name == "Avondale"
    assert len(carta.calendar) == 3 and len(carta.calendar_dates["3"]) == 3


def test_settings_point_at_the_bundled_feed() -> None:
    assert load_settings(gtfs_path=Path("data/gtfs/carta.zip")).gtfs_path == CARTA


def test_every_trip_has_ordered_stop_times(carta: Feed) -> None:
    for trip_id, stop_times in carta.stop_times.items():
        assert len(stop_times) >= 2, trip_id
        assert all(st.trip_id == trip_id for st in stop_times)
        for a, b in itertools.pairwise(stop_times):
            assert a.stop_sequence < b.stop_sequence, trip_id
            assert a.departure_s <= b.arrival_s, trip_id
        assert all(st.arrival_s <= st.departure_s for st in stop_times), trip_id
    assert set(carta.stop_times) == set(carta.trips)


def test_times_past_midnight(carta: Feed) -> None:
    assert parse_gtfs_time("25:10:00") == 25 * 3600 + 600
    assert parse_gtfs_time(" 7:05:09") == 7 * 3600 + 5 * 60 + 9
    assert format_gtfs_time(90_600) == "25:10:00"
    for bad in ("8:00", "08:60:00", "08:00:61", "aa:00:00", "-1:00:00"):
        with pytest.raises(ValueError):
            parse_gtfs_time(bad)
    latest = max(st.arrival_s for sts in carta.stop_times.values() for st in sts)
    assert format_gtfs_time(latest) == "24:45:00"
    past = {t for t, sts in carta.stop_times.items() if sts[-1].arrival_s >= 24 * 3600}
    assert len(past) == 10


def test_load_is_cached_by_path_and_stamp(carta: Feed) -> None:
    assert load_feed(CARTA) is carta
    assert load_feed(str(CARTA)) is carta
    fresh = load_feed(CARTA, use_cache=False)
    assert fresh is not carta and fresh.trips == carta.trips


def test_feed_without_shapes_uses_straight_lines_and_warns(
    carta: Feed, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "carta-no-shapes"
    with zipfile.ZipFile(CARTA) as zf:
        zf.extractall(folder, [n for n in zf.namelist() if n != "shapes.txt"])
    with caplog.at_level(logging.WARNING, logger="transitstream.gtfs"):
        feed = load_feed(folder)
    warnings = [r for r in caplog.records if "straight lines" in r.getMessage()]
    assert len(warnings) == 1 and "1848 of 1848 trips" in warnings[0].getMessage()
    assert feed.shapes == {} and len(feed.trips) == 1848
    seen = set()
    for trip_id in feed.trips:
        pattern = tuple(st.stop_id for st in feed.stop_times[trip_id])
        if pattern in seen:
            continue
        seen.add(pattern)
        straight = trip_shape(feed, trip_id)
        assert straight.method == "straight"
        stops = feed.trip_stops(trip_id)
        assert straight.polyline.lats == tuple(s.lat for s in stops)
        assert straight.polyline.lons == tuple(s.lon for s in stops)
        assert straight.stop_distances_m == straight.polyline.cum_m
        # CARTA's shapes pass through every stop in order, so the chord is never longer.
        shaped = trip_shape(carta, trip_id)
        assert straight.polyline.length_m <= shaped.stop_distances_m[-1] + 1e-6
    assert len(seen) == 62
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="transitstream.gtfs"):
        trip_shape(feed, next(iter(feed.trips)))
        load_feed(folder)  # cached: no second warning
    assert not caplog.records


# --- crafted feeds --------------------------------------------------------------------------------


def test_bom_whitespace_blank_times_and_folder_inside_zip(mini: Feed, tmp_path: Path) -> None:
    assert mini.routes["R1"].short_name == "1" and mini.routes["R1"].long_name == "One"
    t1 = mini.stop_times["T1"]
    # B had no time: interpolated by shape_dist_traveled, 300 of 1000 along 08:00 -> 08:10.
    assert (t1[1].arrival_s, t1[1].departure_s) == (parse_gtfs_time("08:03:00"),) * 2
    assert [st.timepoint for st in t1] == [True, False, True]
    t2 = mini.stop_times["T2"]
    assert [st.stop_sequence for st in t2] == [5, 10]
    assert t2[1].departure_s == t2[1].arrival_s == parse_gtfs_time("07:40:00")
    assert mini.stop_times["T3"][-1].arrival_s == 25 * 3600 + 600
    assert mini.timezone is None
    archive = tmp_path / "mini.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in MINI.items():
            zf.writestr(f"gtfs-2026/{name}", text)
    zipped = load_feed(archive)
    assert zipped.stop_times == mini.stop_times and zipped.calendar == mini.calendar


def test_blank_times_interpolate_by_index_without_distances(tmp_path: Path) -> None:
    files = dict(MINI)
    files["stop_times.txt"] = (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,08:00:00,08:00:00,A,1\nT1,,,B,2\nT1,,,A,3\nT1,08:09:00,08:09:00,C,4\n"
        "T2,07:30:00,07:30:00,A,1\nT2,07:40:00,07:40:00,C,2\n"
        "T3,07:30:00,07:30:00,A,1\nT3,07:40:00,07:40:00,C,2\n"
    )
    feed = load_feed(write_feed(tmp_path / "f", files))
    assert [st.arrival_s - 8 * 3600 for st in feed.stop_times["T1"]] == [0, 180, 360, 540]


# Shape S1 runs A -> B -> C with shape_dist_traveled in kilometres; B is 910.9 m from A.
SHAPED = {
    "shapes.txt": (
        "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence,shape_dist_traveled\n"
        "S1,35.0,-85.0,1,0\nS1,35.0,-84.995,2,0.4555\nS1,35.0,-84.99,3,0.9109\n"
        "S1,35.01,-84.99,4,2.0228\n"
    ),
    "trips.txt": "route_id,service_id,trip_id,shape_id\nR1,WK,T1,S1\nR1,WK,T2,S1\nR1,WK,T3,S1\n",
    "stop_times.txt": (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence,shape_dist_traveled\n"
        "T1,08:00:00,08:00:00,A,1,0\nT1,08:01:00,08:01:00,B,2,0.9109\n"
        "T1,08:02:00,08:02:00,C,3,2.0228\n"
        "T2,09:00:00,09:00:00,A,1,0\nT2,09:01:00,09:01:00,B,2,1.9\n"
        "T2,09:02:00,09:02:00,C,3,2.0228\n"
        "T3,10:00:00,10:00:00,A,1,\nT3,10:01:00,10:01:00,B,2,\nT3,10:02:00,10:02:00,C,3,\n"
    ),
}


def test_stop_distances_from_the_field_in_any_unit_else_matched(tmp_path: Path) -> None:
    feed = load_feed(write_feed(tmp_path / "shaped", {**MINI, **SHAPED}))
    ab = haversine_m(35.0, -85.0, 35.0, -84.99)
    expected = [0.0, ab, ab + haversine_m(35.0, -84.99, 35.01, -84.99)]
    kilometres = trip_shape(feed, "T1")
    assert kilometres.method == "shape_dist_traveled"
    assert kilometres.stop_distances_m == pytest.approx(expected, abs=0.5)
    # T2 claims B is 1.9 km along, which is 990 m from B: the field is ignored.
    wrong = trip_shape(feed, "T2")
    assert wrong.method == "matched"
    assert wrong.stop_distances_m == pytest.approx(expected, abs=0.01)
    blank = trip_shape(feed, "T3")
    assert blank.method == "matched" and blank.polyline is kilometres.polyline


def test_trips_with_fewer_than_two_stops_are_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = dict(MINI)
    files["trips.txt"] += "R1,WK,LONE,\nR1,WK,EMPTY,\n"
    files["stop_times.txt"] += "LONE,09:00:00,09:00:00,A,1,,\n"
    with caplog.at_level(logging.WARNING, logger="transitstream.gtfs"):
        feed = load_feed(write_feed(tmp_path / "short", files))
    assert set(feed.trips) == {"T1", "T2", "T3"} == set(feed.stop_times)
    assert any("dropped 2 trip(s)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stops.txt": None}, r"no stops\.txt"),
        ({"stops.txt": "stop_id,stop_name,stop_lon\nA,Alpha,-85\n"}, r"stops\.txt .*stop_lat"),
        ({"calendar.txt": None, "calendar_dates.txt": None}, "neither calendar"),
        ({"trips.txt": "route_id,service_id,trip_id\nR9,WK,T1\n"}, r"trips\.txt .*'R9'"),
        (
            {"stop_times.txt": MINI["stop_times.txt"].replace("T1,,,B", "T1,,,Z")},
            r"stop_times\.txt data row 2: stop_id 'Z'",
        ),
        (
            {"stop_times.txt": MINI["stop_times.txt"].replace("08:10:00", "08:1O:00")},
            r"stop_times\.txt data row 3",
        ),
        (
            {
                "stop_times.txt": MINI["stop_times.txt"].replace(
                    "T2,07:30:00,07:30:00,A,5", "T2,,,A,5"
                )
            },
            "first or last stop",
        ),
        (
            {"stop_times.txt": MINI["stop_times.txt"].replace("C,10", "C,5")},
            "stop_sequence 5 twice",
        ),
        (
            {"calendar_dates.txt": "service_id,date,exception_type\nWK,20260119,3\n"},
            "exception_type",
        ),
    ],
)
def test_broken_feeds_say_which_file_and_what_to_do(
    tmp_path: Path, change: dict[str, str | None], message: str
) -> None:
    files = {**MINI, **change}
    folder = write_feed(tmp_path / "broken", {k: v for k, v in files.items() if v is not None})
    with pytest.raises(GtfsError, match=message) as info:
        load_feed(folder)
    assert isinstance(info.value, TransitStreamError)
    assert "GTFS" in str(info.value) or "fix the feed" in str(info.value)


def test_missing_feed_path_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(GtfsError, match="TRANSITSTREAM_GTFS_PATH"):
        load_feed(tmp_path / "nowhere.zip")
    not_zip = tmp_path / "feed.zip"
    not_zip.write_text("not a zip")
    with pytest.raises(GtfsError, match="neither a folder nor a zip"):
        load_feed(not_zip)


# --- calendar -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 1, 4), set()),  # Sunday before the range
        (date(2026, 1, 5), {"WK"}),  # first day, a Monday: start is inclusive
        (date(2026, 1, 10), set()),  # Saturday
        (date(2026, 1, 19), {"SP"}),  # WK removed, SP added
        (date(2026, 1, 30), {"WK"}),  # last day, a Friday: end is inclusive
        (date(2026, 1, 31), {"WK"}),  # a Saturday outside the range, added by exception
        (date(2026, 2, 2), set()),  # Monday after the range
    ],
)
def test_active_service_ids(mini: Feed, day: date, expected: set[str]) -> None:
    assert active_service_ids(mini, day) == expected


def test_trips_on_and_default_service_date(mini: Feed) -> None:
    assert [t.trip_id for t in trips_on(mini, date(2026, 1, 6))] == ["T2", "T1"]  # by departure
    assert [t.trip_id for t in trips_on(mini, date(2026, 1, 19))] == ["T3"]
    assert trips_on(mini, date(2026, 1, 10)) == []
    assert service_range(mini) == (date(2026, 1, 5), date(2026, 1, 31))
    assert default_service_date(mini) == date(2026, 1, 5)
    # Nearest day with the most trips: the holiday (one trip) loses to the Tuesday after it.
    assert default_service_date(mini, near=date(2026, 1, 19)) == date(2026, 1, 20)
    assert default_service_date(mini, near=date(2026, 1, 24)) == date(2026, 1, 23)
    assert default_service_date(mini, near=date(2030, 1, 1)) == date(2026, 1, 31)


def test_a_feed_that_never_runs_has_no_default_date(tmp_path: Path) -> None:
    files = {**MINI, "calendar_dates.txt": "service_id,date,exception_type\n"}
    files["calendar.txt"] = MINI["calendar.txt"].replace("1,1,1,1,1,0,0", "0,0,0,0,0,0,0")
    with pytest.raises(GtfsError, match="no trip runs"):
        default_service_date(load_feed(write_feed(tmp_path / "never", files)))


def test_carta_calendar(carta: Feed) -> None:
    assert default_service_date(carta) == date(2026, 5, 11)  # the first Monday
    assert len(trips_on(carta, date(2026, 5, 11))) == 810
    assert len(trips_on(carta, date(2026, 5, 16))) == 666  # Saturday
    assert len(trips_on(carta, date(2026, 5, 17))) == 372  # Sunday
    assert active_service_ids(carta, date(2026, 5, 25)) == {"3"}  # Memorial Day: Saturday service
    assert trips_on(carta, date(2026, 7, 4)) == []  # Independence Day, a Saturday: none
    assert trips_on(carta, date(2026, 8, 23)) == []  # after the feed ends
    assert default_service_date(carta, near=date(2026, 7, 4)) == date(2026, 7, 3)


def test_service_day_starts_at_noon_minus_twelve_hours() -> None:
    ordinary = service_day_start(date(2026, 5, 11), "America/New_York")
    assert ordinary == datetime(2026, 5, 11, 4, tzinfo=UTC)  # local midnight, EDT
    # Clocks spring forward on 8 March 2026: the service day starts at 23:00 EST the day
    # before, so 08:00:00 in the timetable is still 08:00 EDT.
    spring = service_day_start(date(2026, 3, 8), "America/New_York")
    assert spring == datetime(2026, 3, 8, 4, tzinfo=UTC)
    assert (spring + timedelta(hours=8)).astimezone(ZoneInfo("America/New_York")).hour == 8
