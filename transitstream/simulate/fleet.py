"""Which trips a simulated vehicle drives: one GTFS block each, picked among those in service.

A vehicle drives a *block* (the chain of trips one bus runs in a day) rather than single trips,
so layovers, lateness carried from one trip to the next, and one vehicle id per bus all come out
the way they do on the street. The feed's `block_id` says which trips chain; a feed without it
is chained greedily (same route, next departure from where the last trip ended, alternating
direction when it can).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from transitstream.gtfs import Feed, Trip, haversine_m

CHAIN_MIN_LAYOVER_S = 60
CHAIN_MAX_GAP_M = 500.0
PRE_DEPARTURE_MAX_S = 240.0
"""A vehicle shows up at its first stop at most this long before its block starts."""
REPLICA_SPREAD_S = 600.0
"""Replicas (load tests only) run their block up to this much earlier or later than scheduled."""


@dataclass(frozen=True)
class Assignment:
    """A vehicle and the block it drives; `shift_s` moves a replica's whole timetable."""

    vehicle_id: str
    block_id: str
    trips: tuple[Trip, ...]
    shift_s: float = 0.0
    copy: int = 0


def first_departure(feed: Feed, trip: Trip) -> int:
    return feed.stop_times[trip.trip_id][0].departure_s


def last_arrival(feed: Feed, trip: Trip) -> int:
    return feed.stop_times[trip.trip_id][-1].arrival_s


def blocks_of(feed: Feed, trips: list[Trip]) -> dict[str, tuple[Trip, ...]]:
    """Blocks of a service day, each in departure order; chained ones are named `route#n`."""
    grouped: dict[str, list[Trip]] = defaultdict(list)
    loose: list[Trip] = []
    for trip in trips:
        if trip.block_id:
            grouped[trip.block_id].append(trip)
        else:
            loose.append(trip)
    for chain in chain_trips(feed, loose):
        grouped[f"{chain[0].route_id}#{len(grouped)}"] = chain
    return {
        block: tuple(sorted(chain, key=lambda t: (first_departure(feed, t), t.trip_id)))
        for block, chain in grouped.items()
    }


def chain_trips(feed: Feed, trips: list[Trip]) -> list[list[Trip]]:
    """Chain trips without a block_id: each takes the open chain of its route that ended where it
    starts, early enough for a layover, of the other direction if any, most recently freed."""
    chains: list[list[Trip]] = []
    open_by_route: dict[str, list[int]] = defaultdict(list)
    for trip in sorted(trips, key=lambda t: (first_departure(feed, t), t.trip_id)):
        start = feed.stops[feed.stop_times[trip.trip_id][0].stop_id]
        dep = first_departure(feed, trip)
        best: tuple[bool, int] | None = None
        best_i = -1
        for i in open_by_route[trip.route_id]:
            last = chains[i][-1]
            end = feed.stops[feed.stop_times[last.trip_id][-1].stop_id]
            free_at = last_arrival(feed, last)
            if free_at + CHAIN_MIN_LAYOVER_S > dep:
                continue
            if haversine_m(end.lat, end.lon, start.lat, start.lon) > CHAIN_MAX_GAP_M:
                continue
            key = (last.direction_id != trip.direction_id, free_at)
            if best is None or key > best:
                best, best_i = key, i
        if best_i < 0:
            open_by_route[trip.route_id].append(len(chains))
            chains.append([trip])
        else:
            chains[best_i].append(trip)
    return chains


def in_service(feed: Feed, block: tuple[Trip, ...], lo_s: float, hi_s: float) -> bool:
    """Whether the block's span (with the pull-out before it) meets [lo_s, hi_s]."""
    start = first_departure(feed, block[0]) - PRE_DEPARTURE_MAX_S
    return start < hi_s and last_arrival(feed, block[-1]) > lo_s


def assign_vehicles(
    feed: Feed,
    trips: list[Trip],
    lo_s: float,
    hi_s: float,
    n: int,
    seed: int,
    replicate: bool = False,
    prefix: str = "bus",
) -> tuple[list[Assignment], list[str]]:
    """Up to `n` vehicles on blocks in service during [lo_s, hi_s], chosen by `seed`.

    A feed has only so many buses out at once (CARTA: about 30 at midday). Asking for more gives
    that many and a note, unless `replicate`, which adds copies of blocks shifted in time: only
    for load tests, since two vehicles then serve one trip_id at once.
    """
    notes: list[str] = []
    blocks = blocks_of(feed, trips)
    active = sorted(
        (b for b, chain in blocks.items() if in_service(feed, chain, lo_s, hi_s)),
        key=lambda b: (first_departure(feed, blocks[b][0]), b),
    )
    rng = random.Random(f"{seed}:fleet")
    chosen = rng.sample(active, min(n, len(active)))
    picks: list[tuple[str, float, int]] = [(b, 0.0, 0) for b in chosen]
    if n > len(active):
        if replicate and active:
            for k in range(n - len(active)):
                copy = 1 + k // len(active)
                shift = ((copy * 0.6180339887 + k * 0.1) % 1.0 - 0.5) * 2 * REPLICA_SPREAD_S
                picks.append((active[k % len(active)], round(shift), copy))
            notes.append(
                f"{len(active)} blocks are in service; {n - len(active)} replica vehicle(s) "
                "drive copies shifted in time (load test: trips have several vehicles)"
            )
        else:
            notes.append(
                f"asked for {n} vehicles but only {len(active)} blocks are in service in the "
                "window; running those (pass --replicate to add time-shifted copies)"
            )
    picks.sort(key=lambda p: (first_departure(feed, blocks[p[0]][0]) + p[1], p[0], p[2]))
    width = max(3, len(str(len(picks))))
    out = [
        Assignment(f"{prefix}-{i:0{width}d}", block, blocks[block], shift, copy)
        for i, (block, shift, copy) in enumerate(picks, start=1)
    ]
    return out, notes
