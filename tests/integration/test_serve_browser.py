"""The live board in a real headless Chromium (Debian's, driven by Playwright): it renders the
predictions for a stop, draws the vehicles on the route shapes, and updates over the WebSocket.
A screenshot is kept under .transitstream/artifacts/ for people to look at."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from transitstream.config import Settings, project_root
from transitstream.db.migrate import connect
from transitstream.serve.client import running_api
from transitstream.serve.sample import delete_vehicles, write_rows

pytestmark = pytest.mark.integration

PREFIX = "t-serve-ui-"
# a stop of a route-1 trip (its 24th, GTFS) that no other test writes ETAs for, emptied when the
# module starts: a board shows the next `eta_limit` arrivals, and other tests' arrivals (kept for
# `eta_max_age_s`) must not push this module's off it
STOP, STOP_SEQUENCE, TRIP = "1946", 24, "1025020"
ARTIFACTS = project_root() / ".transitstream" / "artifacts"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed: run `make setup` (system-packages.sh)")
    return path


@pytest.fixture(scope="module")
def api(stack: Settings) -> Iterator[Settings]:
    delete_vehicles(stack, PREFIX)
    with connect(stack) as conn:
        conn.execute("DELETE FROM stop_eta WHERE stop_id = %s", [STOP])
    with running_api(stack):
        yield stack
    delete_vehicles(stack, PREFIX)


def eta(vehicle: str, seconds: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"vehicle_id": vehicle, "trip_id": TRIP, "stop_sequence": STOP_SEQUENCE, "stop_id": STOP,
            "route_id": "1", "predicted_time": now + timedelta(seconds=seconds),
            "prediction_time": now - timedelta(seconds=2),
            "scheduled_time": now + timedelta(seconds=seconds - 180)}  # fmt: skip


def test_board_renders_and_updates_live(api: Settings) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = chromium()
    first, second = f"{PREFIX}{uuid.uuid4().hex[:5]}", f"{PREFIX}{uuid.uuid4().hex[:5]}"
    now = datetime.now(UTC)
    write_rows(
        api,
        vehicles=[{"vehicle_id": first, "route_id": "1", "trip_id": TRIP, "lat": 35.03,
                   "lon": -85.31, "event_time": now, "delay_s": 180}],
        etas=[eta(first, 100)],
    )  # fmt: skip
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{api.api.url}/?stop={STOP}")
            expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
            row = page.locator(f'#board-body tr[data-vehicle="{first}"]')
            expect(row).to_be_visible(timeout=15_000)
            expect(row).to_contain_text("ALTON PARK")
            expect(row).to_contain_text("3 min late")
            expect(page.locator(f'[id="veh-{first}"]')).to_have_count(1)
            assert page.locator("#routes polyline").count() > 10

            # live: a second bus's prediction lands in the read model and shows up, sooner first
            write_rows(api, etas=[eta(second, 50)])
            new_row = page.locator(f'#board-body tr[data-vehicle="{second}"]')
            expect(new_row).to_be_visible(timeout=10_000)
            mine = page.locator("#board-body tr[data-vehicle^='t-serve-ui-']")
            assert mine.nth(0).get_attribute("data-vehicle") == second
            # and the first bus moves on the map
            dot = page.locator(f'[id="veh-{first}"]')
            before = dot.get_attribute("cx")
            write_rows(api, vehicles=[{"vehicle_id": first, "route_id": "1", "trip_id": TRIP,
                                       "lat": 35.05, "lon": -85.29,
                                       "event_time": datetime.now(UTC)}])  # fmt: skip
            expect(dot).not_to_have_attribute("cx", before or "", timeout=10_000)

            # keyboard: pick another stop by typing in the picker and pressing Enter
            page.locator("#stop-input").fill("12")
            page.keyboard.press("Enter")
            expect(page.locator("#stop-name")).to_contain_text("Market & Family Dollar")
            page.goto(f"{api.api.url}/?stop={STOP}")
            expect(page.locator(f'#board-body tr[data-vehicle="{second}"]')).to_be_visible(
                timeout=15_000
            )
            page.screenshot(path=str(ARTIFACTS / "serve_board.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
