"""The ingestor's request counter, in process and without Kafka: the lifespan (which builds the
producers) does not run, and routes added here stand for any route of the app."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from transitstream.config import load_settings
from transitstream.ingest.app import create_app


def count(route: str, status: int) -> float:
    labels = {"route": route, "status": str(status)}
    return REGISTRY.get_sample_value("ingest_requests_total", labels) or 0.0


def test_requests_are_counted_by_route_template_and_status_including_500s() -> None:
    app = create_app(load_settings())

    async def fine(item: str) -> dict[str, str]:
        return {"item": item}

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/t/fine/{item}", fine)
    app.add_api_route("/t/broken", broken)
    client = TestClient(app, raise_server_exceptions=False)
    before_ok, before_500 = count("/t/fine/{item}", 200), count("/t/broken", 500)

    assert client.get("/t/fine/a").status_code == 200
    assert client.get("/t/fine/b").status_code == 200
    assert client.get("/t/broken").status_code == 500

    assert count("/t/fine/{item}", 200) == before_ok + 2
    assert count("/t/broken", 500) == before_500 + 1
