"""`api.workers` > 1: uvicorn's parent runs worker processes; each answers from its own cache, and
stopping the parent by its recorded PID (as `transitstream infra down` does) leaves no orphan. A
misconfigured start fails with one message and a non-zero exit, not a traceback per worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import psutil
import pytest
from fastapi import FastAPI

from transitstream.config import Settings, project_root
from transitstream.infra import stack as native
from transitstream.infra.process import running_process, stop, wait_until
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
        pids = {w.pid for w in workers_of(parent)}
        bus = f"{PREFIX}bus"
        with httpx.Client(base_url=settings.api.url, timeout=10) as http:
            http.headers["Connection"] = "close"  # new connections: the kernel spreads them
            answered: set[int] = set()
            deadline = time.monotonic() + 20
            while answered != pids and time.monotonic() < deadline:
                answered.add(http.get("/healthz").json()["worker_pid"])
            assert answered == pids, f"only {answered} of the workers {pids} answered"
            for lat in (35.01, 35.02, 35.03):  # each write is seen, whichever worker asks
                fix = {"vehicle_id": bus, "route_id": "1", "lat": lat, "lon": -85.3,
                       "event_time": datetime.now(UTC)}  # fmt: skip
                write_rows(settings, vehicles=[fix])
                # read-your-writes is best-effort: the writer's NOTIFY reaches each worker
                # asynchronously, so a read right after the commit may still be a cached answer
                for _ in range(6):
                    assert wait_until(
                        lambda lat=lat: http.get(f"/vehicles/{bus}").json()["lat"] == lat, 2.0, 0.02
                    )
        # SIGTERM to the parent alone (`stop` would SIGKILL leftovers): uvicorn must stop its
        # workers itself, or a Ctrl+C or a plain `kill` would orphan them
        parent.terminate()
        _, alive = psutil.wait_procs([parent, *children], timeout=20)
        assert not alive, f"still running after SIGTERM: {[p.pid for p in alive]}"
    finally:
        stop(managed, timeout=20)
        delete_vehicles(settings, PREFIX)


@asynccontextmanager
async def failing_lifespan(app: FastAPI) -> AsyncIterator[None]:
    raise RuntimeError("this worker cannot start")
    yield  # pragma: no cover


def failing_app() -> FastAPI:
    """What a worker imports in `test_a_worker_that_cannot_start_fails_the_command`."""
    return FastAPI(lifespan=failing_lifespan)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=project_root(),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_a_worker_that_cannot_start_fails_the_command() -> None:
    """uvicorn itself stops the others and exits 0: ours exits 1 and says so."""
    done = run_python(f"""
        from transitstream.infra import uvicorn_service
        from tests.integration.test_serve_workers import failing_app
        uvicorn_service.main("t", "t", "API", lambda host, port, level: uvicorn_service.serve_app(
            failing_app, lambda s: s.api, "127.0.0.1", {free_port()}, level, workers=2))
    """)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "failed to start" in done.stderr.splitlines()[-1], done.stderr[-2000:]


def test_a_missing_feed_fails_before_any_worker_starts() -> None:
    done = run_python(
        "from transitstream.serve.serve import main; main()",
        TRANSITSTREAM_GTFS_PATH="/nonexistent/gtfs.zip",
        TRANSITSTREAM_API__WORKERS="2",
        TRANSITSTREAM_API__PORT=str(free_port()),
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: GTFS feed not found"), done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "Started" not in done.stderr
