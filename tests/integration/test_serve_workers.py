"""`api.workers` > 1: uvicorn's parent runs worker processes; each answers from its own cache, and
stopping the parent by its recorded PID (as `transitstream infra down` does) leaves no orphan."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import psutil
import pytest

from transitstream.config import Settings
from transitstream.infra import stack as native
from transitstream.infra.process import running_process, stop
from transitstream.serve.process import COMPONENT
from transitstream.serve.sample import delete_vehicles, write_rows

pytestmark = pytest.mark.integration

PREFIX = "t-serve-workers-"


def workers_of(parent: psutil.Process) -> list[psutil.Process]:
    return [p for p in parent.children() if "spawn_main" in " ".join(p.cmdline())]


def test_two_workers_answer_fresh_rows_and_stop_with_their_parent(stack: Settings) -> None:
    settings = stack.model_copy(update={"api": stack.api.model_copy(update={"workers": 2})})
    delete_vehicles(settings, PREFIX)
    native.start(COMPONENT, settings)
    managed = COMPONENT.managed(settings)
    try:
        parent = running_process(managed)
        assert parent is not None
        deadline = time.monotonic() + 30
        while len(workers_of(parent)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers_of(parent)) == 2, [w.cmdline() for w in parent.children()]
        children = parent.children(recursive=True)  # the workers and multiprocessing's tracker
        bus = f"{PREFIX}bus"
        with httpx.Client(base_url=settings.api.url, timeout=10) as http:
            for lat in (35.01, 35.02, 35.03):  # each write is seen at once, whichever worker asks
                fix = {"vehicle_id": bus, "route_id": "1", "lat": lat, "lon": -85.3,
                       "event_time": datetime.now(UTC)}  # fmt: skip
                write_rows(settings, vehicles=[fix])
                for _ in range(6):  # new connections: the kernel spreads them over the workers
                    http.headers["Connection"] = "close"
                    assert http.get(f"/vehicles/{bus}").json()["lat"] == lat
        # SIGTERM to the parent alone (`stop` would SIGKILL leftovers): uvicorn must stop its
        # workers itself, or a Ctrl+C or a plain `kill` would orphan them
        parent.terminate()
        _, alive = psutil.wait_procs([parent, *children], timeout=20)
        assert not alive, f"still running after SIGTERM: {[p.pid for p in alive]}"
    finally:
        stop(managed, timeout=20)
        delete_vehicles(settings, PREFIX)
