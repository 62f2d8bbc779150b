"""Run one of our FastAPI apps with uvicorn: the one way the ingestor and the read API start.

Both are started the same way (by the CLI, or as `python -m ...` background processes of the
stack), so the address rule (Settings unless told otherwise) and the shutdown grace live here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from transitstream.config import ServiceSettings, Settings, get_settings
from transitstream.errors import TransitStreamError

AppFactory = Callable[[Settings], FastAPI]
Section = Callable[[Settings], ServiceSettings]


class StartupFailed(TransitStreamError):
    """A worker process of the app failed before it served (its log says why)."""


def import_path(factory: AppFactory) -> str:
    """ "module:function" of an app factory, for worker processes to import: a module-level
    function by construction (a nested one or a lambda could not be imported)."""
    path = f"{factory.__module__}:{factory.__qualname__}"
    if "<" in factory.__qualname__:  # "<lambda>", "outer.<locals>.f"
        raise TransitStreamError(
            f"the app factory {path} is not importable: define it at module level to run "
            "several workers"
        )
    return path


def serve_app(
    factory: AppFactory,
    section: Section,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
    grace_s: int = 5,
    workers: int = 1,
) -> None:
    """Run the app on `section`'s address unless told otherwise.

    With `workers` > 1, the parent process holds the socket and runs that many worker processes
    (uvicorn's `Multiprocess`), each of which imports `factory` by name and calls it with no
    argument (Settings come from the environment, which the workers inherit). The parent
    forwards SIGTERM and SIGINT to them and waits for them to stop (each gets `grace_s` for open
    requests), so stopping the parent by its PID stops them all. A worker that fails its startup
    stops them all too, and raises `StartupFailed` here (uvicorn itself would exit 0).
    """
    settings = get_settings()
    address = section(settings)
    options: dict[str, Any] = {
        "host": host or address.host,
        "port": port or address.port,
        "log_level": log_level,
        "timeout_graceful_shutdown": grace_s,
    }
    if workers > 1:
        run_workers(import_path(factory), workers, options)
    else:
        uvicorn.run(factory(settings), **options)


def run_workers(path: str, workers: int, options: dict[str, Any]) -> None:
    """`uvicorn.run(path, factory=True, workers=...)`, but an exit code that says whether every
    worker started."""
    config = uvicorn.Config(path, factory=True, workers=workers, **options)
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        raise StartupFailed(
            f"worker process(es) {failed} failed to start (see the log above): fix the cause "
            "and start again"
        )


def main(prog: str, description: str, variable: str, run: Callable[..., None]) -> None:
    """`python -m <prog>`: --host/--port/--log-level, defaults from TRANSITSTREAM_<variable>__*."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", help=f"listen address (default: TRANSITSTREAM_{variable}__HOST)")
    parser.add_argument("--port", type=int, help=f"port (default: TRANSITSTREAM_{variable}__PORT)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    try:
        run(args.host, args.port, args.log_level)
    except TransitStreamError as exc:  # a malformed TRANSITSTREAM_* value: its name, no traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
