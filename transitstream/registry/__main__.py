"""``python -m transitstream.registry``: serve the registry with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

import uvicorn

from transitstream.config import Settings, load_settings
from transitstream.errors import TransitStreamError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m transitstream.registry",
        description=(
            "Confluent-compatible Schema Registry (AVRO) storing its state in a compacted Kafka "
            "topic. Settings come from TRANSITSTREAM_* variables (e.g. TRANSITSTREAM_KAFKA__PORT, "
            "TRANSITSTREAM_REGISTRY__PORT, TRANSITSTREAM_REGISTRY__TOPIC) or .env; the flags "
            "below override them."
        ),
    )
    parser.add_argument("--host", help="interface to listen on (default: registry.host)")
    parser.add_argument("--port", type=int, help="port to listen on (default: registry.port)")
    parser.add_argument("--topic", help="Kafka topic holding the state (default: registry.topic)")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level for stdout (default: INFO)",
    )
    return parser.parse_args(argv)


def with_overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    changes = {k: v for k in ("host", "port", "topic") if (v := getattr(args, k)) is not None}
    if not changes:
        return settings
    return settings.model_copy(update={"registry": settings.registry.model_copy(update=changes)})


def _after_graceful_shutdown(signum: int, frame: FrameType | None) -> None:
    """Swallow the signal uvicorn re-raises once its graceful shutdown has finished.

    uvicorn restores the previous handler and raises the captured signal again; with Python's
    default the process would then die by SIGTERM (exit -15) although it stopped cleanly.
    """


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout,
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = with_overrides(load_settings(), args)
        from transitstream.registry.app import create_app

        app = create_app(settings)
    except TransitStreamError as exc:
        logging.getLogger("transitstream.registry").error("%s", exc)
        return 2
    # log_config=None: uvicorn's loggers propagate to the stdout handler configured above.
    # uvicorn turns SIGTERM into a graceful shutdown that runs the lifespan's cleanup.
    config = uvicorn.Config(
        app,
        host=settings.registry.host,
        port=settings.registry.port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _after_graceful_shutdown)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
