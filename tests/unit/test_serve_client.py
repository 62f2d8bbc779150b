"""The read API's small client, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from transitstream.config import load_settings
from transitstream.serve import client


def test_all_vehicles_follows_next_cursor_to_the_last_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pages = {
        None: {"vehicles": [{"vehicle_id": "a"}, {"vehicle_id": "b"}], "next_cursor": "c1"},
        "c1": {"vehicles": [{"vehicle_id": "c"}, {"vehicle_id": "d"}], "next_cursor": "c2"},
        "c2": {"vehicles": [{"vehicle_id": "e"}], "next_cursor": None},
    }
    asked: list[dict[str, Any]] = []

    def fake_get(_settings: Any, path: str, **params: Any) -> dict[str, Any]:
        assert path == "/vehicles"
        asked.append(params)
        return pages[params["cursor"]]

    monkeypatch.setattr(client, "get", fake_get)
    found = list(client.all_vehicles(load_settings(), page_size=2, route_id="4"))
    assert [v["vehicle_id"] for v in found] == ["a", "b", "c", "d", "e"]
    assert [p["cursor"] for p in asked] == [None, "c1", "c2"]
    assert all(p["limit"] == 2 and p["route_id"] == "4" for p in asked)
