"""The simulator as a device fleet on the wire: one kept-alive connection, and a live line that
shows events sent, accepted, rejected and the rate (issue #3)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rich.console import Console

from transitstream.simulate.client import IngestClient
from transitstream.simulate.progress import LiveProgress
from transitstream.simulate.summary import Counts


class _Recorder(ThreadingHTTPServer):
    peers: list[tuple[str, int]]


class _Ingest(BaseHTTPRequestHandler):
    """Answers every POST with 202 over HTTP/1.1 and records which client socket sent it."""

    protocol_version = "HTTP/1.1"
    server: _Recorder

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.peers.append(self.client_address)
        body = b'{"accepted": 1, "rejected": 0, "errors": []}'
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Recorder]:
    srv = _Recorder(("127.0.0.1", 0), _Ingest)
    srv.peers = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_batches_share_one_keep_alive_connection(server: _Recorder) -> None:
    host, port = server.server_address[:2]
    with IngestClient(f"http://{host!s}:{port}", "tok") as client:
        results = [client.post_batch(b"[]") for _ in range(5)]
    assert [r.status for r in results] == [202] * 5
    assert len(server.peers) == 5
    assert len(set(server.peers)) == 1, f"a new connection per batch: {set(server.peers)}"


def test_live_line_shows_sent_accepted_rejected_and_rate() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    counts = Counts(sent=120, accepted=117, rejected=3, retries=1)
    with LiveProgress(total_ticks=10, quiet=False, console=console) as live:
        live.update(sim_ms=8 * 3600 * 1000, counts=counts, elapsed_s=2.0)
        live.message("HTTP 503: Kafka down; retrying the same batch in 2.0 s")
    text = out.getvalue()
    assert "sim 08:00:00" in text
    assert "sent 120" in text and "accepted 117" in text and "rejected 3" in text
    assert "retries 1" in text and "60 ev/s" in text
    assert "retrying the same batch" in text


def test_quiet_prints_nothing() -> None:
    out = io.StringIO()
    with LiveProgress(total_ticks=10, quiet=True, console=Console(file=out)) as live:
        live.update(0, Counts(sent=1), 1.0)
        live.message("x")
    assert out.getvalue() == ""
