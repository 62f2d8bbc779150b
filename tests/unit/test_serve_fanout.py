"""Fan-out logic without sockets: filters, conflating outboxes (skip ahead), the hub."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from transitstream.serve import fanout
from transitstream.serve.fanout import Client, Delta, Filter, Hub, Outbox, select


def vehicle(vid: str, rev: int, route: str = "1", lat: float = 35.0) -> dict[str, object]:
    return {"vehicle_id": vid, "route_id": route, "revision": rev, "lat": lat}


def delta(*vehicles: dict[str, object], rev: int = 0) -> Delta:
    return Delta(rev, {str(v["vehicle_id"]): v for v in vehicles})


def test_filter_parses_repeated_and_comma_separated_values() -> None:
    f = Filter.of(["1,4", " 9 "], [], ["s1"])
    assert f.routes == {"1", "4", "9"} and f.stops == {"s1"} and not f.vehicles
    assert f.as_json() == {"routes": ["1", "4", "9"], "vehicles": [], "stops": ["s1"]}


def test_no_route_or_vehicle_means_every_vehicle() -> None:
    assert Filter.of().wants_vehicle("any", None)
    assert Filter.of(stops=["s"]).wants_vehicle("any", "7")
    f = Filter.of(routes=["1"], vehicles=["bus-9"])
    assert f.wants_vehicle("bus-1", "1") and f.wants_vehicle("bus-9", "4")
    assert not f.wants_vehicle("bus-2", "4") and not f.wants_vehicle("bus-2", None)


def test_select_keeps_only_what_the_filter_wants() -> None:
    changes = Delta(
        7,
        {"a": vehicle("a", 1, "1"), "b": vehicle("b", 2, "4")},
        {"s1": [], "s2": [{"vehicle_id": "a"}]},
        {"x": {"vehicle_id": "b", "route_id": "4", "revision": 3}},
    )
    part = select(Filter.of(routes=["1"], stops=["s2"]), changes)
    assert list(part.vehicles) == ["a"] and list(part.etas) == ["s2"] and not part.anomalies
    assert part.revision == 7
    assert not select(Filter.of(routes=["9"]), changes)


def test_merge_keeps_the_latest_row_per_key() -> None:
    merged = delta(vehicle("a", 5, lat=1.0), rev=5).merge(
        delta(vehicle("a", 4, lat=2.0), vehicle("b", 6), rev=6)
    )
    assert merged.vehicles["a"]["lat"] == 1.0  # an older row never overwrites a newer one
    assert set(merged.vehicles) == {"a", "b"} and merged.revision == 6


def test_outbox_skips_ahead_instead_of_growing() -> None:
    box = Outbox(capacity=3)
    box.take()
    for rev in range(1, 11):
        box.offer(delta(vehicle("a", rev, lat=float(rev)), vehicle(f"v{rev}", rev), rev=rev))
    assert len(box.deltas) <= 3
    assert box.skipped > 0
    pending = Delta()
    for d in box.take():
        pending.merge(d)
    assert pending.vehicles["a"]["lat"] == 10.0  # latest state per vehicle wins
    assert set(pending.vehicles) == {"a"} | {f"v{r}" for r in range(1, 11)}  # nothing lost
    assert not box.ready.is_set()


def test_outbox_ignores_empty_deltas_and_resubscribe_clears() -> None:
    box = Outbox(capacity=2)
    box.take()
    box.snapshot_needed = False
    box.offer(Delta())
    assert box.deltas == [] and not box.ready.is_set()
    box.offer(delta(vehicle("a", 1)))
    box.resubscribe()
    assert box.deltas == [] and box.snapshot_needed and box.ready.is_set()


def test_client_drops_states_older_than_its_snapshot() -> None:
    client = Client(Filter.of(), Outbox(4), seen={"a": 10})
    part = client.unseen(delta(vehicle("a", 9), vehicle("b", 3)))
    assert list(part.vehicles) == ["b"]
    assert not client.unseen(delta(vehicle("b", 3)))  # already sent
    assert list(client.unseen(delta(vehicle("a", 11))).vehicles) == ["a"]


def test_hub_publishes_once_to_every_interested_client() -> None:
    async def scenario() -> None:
        hub = Hub(capacity=4)
        one = hub.join(Filter.of(routes=["1"]))
        four = hub.join(Filter.of(routes=["4"], stops=["s"]))
        every = hub.join(Filter.of())
        assert hub.watched_stops() == {"s"}
        reached = hub.publish(delta(vehicle("a", 1, "1"), rev=1))
        assert reached == 2
        assert one.outbox.deltas and every.outbox.deltas and not four.outbox.deltas
        hub.leave(one)
        assert one not in hub.clients and len(hub.clients) == 2

    asyncio.run(scenario())


def test_clients_with_one_filter_share_one_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    encodings: list[object] = []
    real_dumps = fanout.json.dumps

    def counting_dumps(obj: object, **kw: Any) -> str:
        encodings.append(obj)
        return real_dumps(obj, **kw)

    monkeypatch.setattr(fanout.json, "dumps", counting_dumps)

    async def scenario() -> None:
        hub = Hub(capacity=4)
        ones = [hub.join(Filter.of(routes=["1"])) for _ in range(50)]
        fours = [hub.join(Filter.of(routes=["4"])) for _ in range(50)]
        a = {**vehicle("a", 1, "1"), "last_seen": "2026-11-25T12:00:00Z"}
        hub.publish(delta(a, vehicle("b", 2, "4"), rev=2))
        sent = set()
        for client in ones + fours:
            (part,) = client.outbox.take()
            shared = client.unseen(part)
            assert shared is part  # nothing to drop: the shared delta itself
            sent.add(shared.text())
        assert len(encodings) == 2 and len(sent) == 2  # once per filter, not per client
        assert json.loads(ones[0].unseen(Delta(3, {"a": a})).text())["vehicles"] == []
        assert Delta(3, {"a": a}).event_times() == [1795608000.0]

    asyncio.run(scenario())


def test_a_client_behind_its_snapshot_gets_its_own_copy() -> None:
    shared = delta(vehicle("a", 5), vehicle("b", 7))
    text = shared.text()
    client = Client(Filter.of(), Outbox(4), seen={"a": 6})
    own = client.unseen(shared)
    assert own is not shared and list(own.vehicles) == ["b"]
    assert shared.text() == text  # the shared one is untouched


def test_merging_drops_the_cached_encoding() -> None:
    first = delta(vehicle("a", 1))
    before = first.text()
    first.merge(delta(vehicle("b", 2), rev=2))
    assert first.text() != before and '"b"' in first.text()
