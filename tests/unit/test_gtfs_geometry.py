"""Geometry: pure formulas on crafted lines, then the same operations on CARTA's real shapes."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from transitstream.gtfs import (
    EARTH_RADIUS_M,
    Feed,
    LocalProjection,
    Polyline,
    haversine_m,
    initial_bearing_deg,
    load_feed,
    match_stops,
    shape_polyline,
    stop_distances,
    trip_shape,
)

CARTA = Path(__file__).resolve().parents[2] / "data" / "gtfs" / "carta.zip"
ORIGIN = LocalProjection(35.05, -85.30)  # downtown Chattanooga


def line_xy(*xy: tuple[float, float]) -> Polyline:
    """A polyline given in local metres (x east, y north), so expected values are easy to read."""
    return Polyline.from_points(ORIGIN.to_latlon(x, y) for x, y in xy)


def at_xy(x: float, y: float) -> tuple[float, float]:
    return ORIGIN.to_latlon(x, y)


@pytest.fixture(scope="module")
def carta() -> Feed:
    return load_feed(CARTA)


# --- pure formulas -------------------------------------------------------------------------------


def test_haversine_known_distances() -> None:
    quarter_meridian = math.pi * EARTH_RADIUS_M / 2  # 10,007.557 km on the mean sphere
    assert haversine_m(0.0, 0.0, 90.0, 0.0) == pytest.approx(quarter_meridian, abs=1e-6)
    assert haversine_m(0.0, 0.0, 90.0, 0.0) == pytest.approx(10_007_557.2, abs=1.0)
    assert haversine_m(0.0, 10.0, 0.0, 11.0) == pytest.approx(111_195.08, abs=0.01)
    # A degree of longitude shrinks with cos(latitude).
    at_60 = haversine_m(60.0, 10.0, 60.0, 10.001)
    assert at_60 == pytest.approx(haversine_m(0.0, 10.0, 0.0, 10.001) / 2, rel=1e-6)
    # Across the antimeridian is short, not half way round the Earth.
    assert haversine_m(0.0, 179.9995, 0.0, -179.9995) == pytest.approx(111.195, abs=0.001)
    assert haversine_m(35.0, -85.0, 35.0, -85.0) == 0.0
    a, b = (35.0456, -85.3097), (35.1391, -85.1274)
    assert haversine_m(*a, *b) == pytest.approx(haversine_m(*b, *a), abs=1e-9)


def test_initial_bearing_compass_points() -> None:
    assert initial_bearing_deg(0, 0, 1, 0) == pytest.approx(0.0, abs=1e-9)
    assert initial_bearing_deg(0, 0, 0, 1) == pytest.approx(90.0, abs=1e-9)
    assert initial_bearing_deg(1, 0, 0, 0) == pytest.approx(180.0, abs=1e-9)
    assert initial_bearing_deg(0, 1, 0, 0) == pytest.approx(270.0, abs=1e-9)


def test_local_projection_matches_haversine_within_a_city() -> None:
    for dx, dy in [(1000.0, 0.0), (0.0, 1000.0), (-5000.0, 3000.0), (12_000.0, -9_000.0)]:
        lat, lon = ORIGIN.to_latlon(dx, dy)
        assert ORIGIN.to_xy(lat, lon) == pytest.approx((dx, dy), abs=1e-6)
        planar = math.hypot(dx, dy)
        assert haversine_m(ORIGIN.lat0, ORIGIN.lon0, lat, lon) == pytest.approx(planar, rel=2e-3)


# --- a crafted polyline ---------------------------------------------------------------------------


def test_polyline_length_point_at_and_bearing() -> None:
    line = line_xy((0, 0), (300, 0), (300, 400))  # east 300 m, then north 400 m
    assert len(line) == 3 and line.segment_count == 2
    assert line.length_m == pytest.approx(700.0, rel=2e-3)
    first = line.cum_m[1]
    p = line.point_at(first / 2)
    assert (p.lat, p.lon) == pytest.approx(at_xy(150, 0), abs=1e-7)
    assert p.bearing_deg == pytest.approx(90.0, abs=0.01)
    q = line.point_at(first + 200.0)
    assert ORIGIN.to_xy(q.lat, q.lon) == pytest.approx((300, 200), abs=0.5)
    assert q.bearing_deg == pytest.approx(0.0, abs=0.01)
    # Beyond the ends: clamped, not extrapolated.
    assert line.point_at(-50.0)[:2] == pytest.approx(at_xy(0, 0), abs=1e-9)
    assert line.point_at(line.length_m + 50.0)[:2] == pytest.approx(at_xy(300, 400), abs=1e-9)


def test_project_gives_distance_offset_and_segment() -> None:
    line = line_xy((0, 0), (300, 0), (300, 400))
    d, offset, seg = line.project(at_xy(120, -25))
    assert (d, offset, seg) == pytest.approx((line.cum_m[1] * 0.4, 25.0, 0), rel=2e-3)
    d, offset, seg = line.project(at_xy(330, 100))
    assert seg == 1 and offset == pytest.approx(30.0, rel=2e-3)
    assert d - line.cum_m[1] == pytest.approx(100.0, rel=2e-3)
    # Past the start the nearest point is the first vertex.
    d, offset, seg = line.project(at_xy(-40, -30))
    assert (d, seg) == (0.0, 0) and offset == pytest.approx(50.0, rel=2e-3)


def test_window_keeps_a_point_on_the_expected_leg_of_an_out_and_back() -> None:
    # Out along y=0, back along y=10 (the other side of the street).
    line = line_xy((0, 0), (1000, 0), (1000, 10), (0, 10))
    point = at_xy(400, 6)  # nearer the way back
    unhinted = line.project(point)
    assert unhinted.segment_index == 2
    outbound = line.project(point, near_m=380.0, window_m=300.0)
    assert outbound.segment_index == 0
    assert outbound.distance_m == pytest.approx(line.cum_m[1] * 0.4, abs=0.01)
    assert outbound.offset_m == pytest.approx(6.0, rel=2e-3)
    # A window with no line near the point still returns its nearest point within the window.
    clipped = line.project_between(point, 0.0, 100.0)
    assert clipped.distance_m == pytest.approx(100.0, abs=1e-9)
    with pytest.raises(ValueError, match="empty range"):
        line.project_between(point, 300.0, 200.0)
    # A window past the end of the line (a prediction beyond the terminus) means the end.
    beyond = line.project(point, near_m=line.length_m + 900.0, window_m=300.0)
    assert beyond.distance_m == line.length_m
    assert beyond.offset_m == pytest.approx(math.hypot(400, 4), rel=2e-3)


def test_repeated_vertices_do_not_break_interpolation_or_heading() -> None:
    line = line_xy((0, 0), (100, 0), (100, 0), (100, 100))
    assert line.segment_count == 3 and line.cum_m[1] == line.cum_m[2]
    at_corner = line.point_at(line.cum_m[1])
    assert at_corner.bearing_deg == pytest.approx(0.0, abs=0.01)  # the way it goes on, north
    assert line.point_at(line.cum_m[1] - 1).bearing_deg == pytest.approx(90.0, abs=0.01)
    ends_still = line_xy((0, 0), (100, 0), (100, 0))
    assert ends_still.point_at(ends_still.length_m).bearing_deg == pytest.approx(90.0, abs=0.01)
    d, offset, _ = line.project(at_xy(100, 50))
    assert offset == pytest.approx(0.0, abs=1e-6)
    assert d == pytest.approx(line.cum_m[1] + 50.0, rel=2e-3)


def test_polyline_needs_two_vertices() -> None:
    with pytest.raises(ValueError, match=">= 2 vertices"):
        Polyline([35.0], [-85.0])
    with pytest.raises(ValueError):
        Polyline([35.0, 35.1], [-85.0])


def test_match_stops_keeps_each_stop_on_its_own_leg() -> None:
    line = line_xy((0, 0), (1000, 0), (1000, 10), (0, 10))
    stops = [at_xy(200, -3), at_xy(400, 6), at_xy(600, -3), at_xy(500, 13), at_xy(100, 13)]
    naive = [line.project(s).distance_m for s in stops]
    assert naive[1] > naive[2]  # the nearest leg alone would send the bus back and forth
    dists = match_stops(line, stops)
    out_len = line.cum_m[1]
    assert list(dists) == sorted(dists)
    assert dists[:3] == pytest.approx([0.2 * out_len, 0.4 * out_len, 0.6 * out_len], abs=0.01)
    back = line.cum_m[2]
    assert dists[3:] == pytest.approx([back + 0.5 * out_len, back + 0.9 * out_len], abs=0.01)


def test_match_stops_on_a_loop_puts_the_terminal_at_both_ends() -> None:
    line = line_xy((0, 0), (500, 0), (500, 500), (0, 500), (0, 0))
    terminal = at_xy(0, -5)
    dists = match_stops(line, [terminal, at_xy(505, 250), at_xy(250, 505), terminal])
    assert dists[0] == pytest.approx(0.0, abs=1e-6)
    assert dists[-1] == pytest.approx(line.length_m, abs=1e-6)
    assert list(dists) == sorted(dists)


def test_match_stops_never_goes_backwards_even_for_stops_out_of_order() -> None:
    line = line_xy((0, 0), (1000, 0))
    dists = match_stops(line, [at_xy(800, 5), at_xy(200, 5), at_xy(900, 5)])
    # The second stop lies behind the first: it is held at the first's place, not sent back.
    assert dists == pytest.approx([0.8 * line.length_m, 0.8 * line.length_m, 0.9 * line.length_m])
    assert match_stops(line, []) == ()


# --- CARTA's real shapes --------------------------------------------------------------------------

# Patterns whose stops, each projected onto the nearest leg, come out of order (loops and
# out-and-back sections of routes 10A, 10C and 10G).
CROSSING_TRIPS = ("1325070", "565070", "349020", "265020")


def patterns(feed: Feed) -> list[str]:
    """One trip per distinct (shape, stop sequence): trips sharing both share their geometry."""
    seen: dict[tuple[object, ...], str] = {}
    for trip_id, trip in feed.trips.items():
        key = (trip.shape_id, tuple(st.stop_id for st in feed.stop_times[trip_id]))
        seen.setdefault(key, trip_id)
    return list(seen.values())


def stop_points(feed: Feed, trip_id: str) -> list[tuple[float, float]]:
    return [(s.lat, s.lon) for s in feed.trip_stops(trip_id)]


def test_every_stop_sits_on_its_trip_shape(carta: Feed) -> None:
    """CARTA's shapes run through each stop's exact coordinates (a short detour to the curb)."""
    trips = patterns(carta)
    assert len(trips) == 62
    worst = 0.0
    for trip_id in trips:
        shape = trip_shape(carta, trip_id)
        for point, d in zip(stop_points(carta, trip_id), shape.stop_distances_m, strict=True):
            hit = shape.polyline.project(point, near_m=d, window_m=50.0)
            worst = max(worst, hit.offset_m, abs(hit.distance_m - d))
    assert worst < 1e-3


def test_stop_distances_are_monotone_for_every_trip(carta: Feed) -> None:
    for trip_id in carta.trips:
        shape = trip_shape(carta, trip_id)
        dists = shape.stop_distances_m
        assert len(dists) == len(carta.stop_times[trip_id])
        assert all(b >= a for a, b in itertools.pairwise(dists)), trip_id
        assert dists[0] >= 0.0 and dists[-1] <= shape.polyline.length_m
        assert shape.method == "shape_dist_traveled"  # the field agrees with the geometry


def test_matching_without_shape_dist_agrees_with_the_feed(carta: Feed) -> None:
    """The fallback for feeds without shape_dist_traveled, checked against CARTA's own values,
    including the patterns where the nearest leg alone gets the order wrong."""
    others = [t for t in patterns(carta) if t not in CROSSING_TRIPS][::10]
    for trip_id in (*CROSSING_TRIPS, *others):
        shape = trip_shape(carta, trip_id)
        points = stop_points(carta, trip_id)
        if trip_id in CROSSING_TRIPS:
            naive = [shape.polyline.project(p).distance_m for p in points]
            assert any(b < a - 1.0 for a, b in itertools.pairwise(naive)), trip_id
        matched = match_stops(shape.polyline, points)
        assert matched == pytest.approx(shape.stop_distances_m, abs=1.0), trip_id


def test_point_at_then_project_round_trips(carta: Feed) -> None:
    for shape_id in sorted(carta.shapes)[::6]:
        line = shape_polyline(carta, shape_id)
        steps = int(line.length_m // 50.0)
        for k in range(steps + 1):
            d = k * 50.0
            p = line.point_at(d)
            hinted = line.project((p.lat, p.lon), near_m=d)
            assert abs(hinted.distance_m - d) < 1.0 and hinted.offset_m < 1e-3
            if k % 10 == 0:
                # Unhinted, a retraced spot may come back at its other distance, never elsewhere.
                free = line.project((p.lat, p.lon))
                again = line.point_at(free.distance_m)
                assert haversine_m(p.lat, p.lon, again.lat, again.lon) < 1e-3
                assert free.offset_m < 1e-3


def test_stop_distances_api_matches_trip_shape(carta: Feed) -> None:
    trip_id = CROSSING_TRIPS[0]
    assert stop_distances(carta, trip_id) == trip_shape(carta, trip_id).stop_distances_m
    assert trip_shape(carta, trip_id) is trip_shape(carta, trip_id)  # computed once


def test_bearing_is_never_360() -> None:
    from transitstream.gtfs.geometry import _compass, planar_bearing_deg

    assert _compass(-1e-15) == 0.0
    assert planar_bearing_deg(-1e-300, 1.0) < 360.0
    assert _compass(-90.0) == 270.0
