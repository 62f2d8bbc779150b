"""Post batches to the ingestor, retrying the same bytes until they are stored or time runs out.

Retrying the *same body* is what makes retries safe: every event carries its `event_id`, so a
batch stored twice (a timeout after the commit, say) dedupes downstream. The ingestor answers 503
with Retry-After while Kafka is down, and a refused connection means it is not up (yet); both are
waited out with capped exponential backoff, bounded by `max_retry_s` so a run never hangs.
A batch that finally fails is reported, never dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx

from transitstream.errors import TransitStreamError

BATCH_PATH = "/v1/positions/batch"
BACKOFF_START_S = 0.5
BACKOFF_CAP_S = 30.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class IngestAuthError(TransitStreamError):
    """401: no retry can help, the token is wrong."""


@dataclass
class PostResult:
    """The ingestor's answer to one body (after retries), or why there is none (`failed`)."""

    status: int | None
    accepted: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    retries: int = 0
    failed: str | None = None

    def codes_by_index(self) -> dict[int | None, str]:
        return {e.get("index"): str(e.get("code")) for e in self.errors}


def retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class IngestClient:
    """One keep-alive connection to the ingestor; `transport`, `sleep` and `monotonic` are there
    so the retry logic is testable without a server or real waiting."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        max_retry_s: float = 300.0,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + BATCH_PATH
        self.max_retry_s = max_retry_s
        self._sleep, self._monotonic = sleep, monotonic
        self._on_wait = on_wait or (lambda _message, _seconds: None)
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IngestClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def post_batch(self, body: bytes) -> PostResult:
        """POST `body` to the batch endpoint; retried as is while the ingestor cannot store it."""
        started = self._monotonic()
        retries = 0
        while True:
            hint: float | None = None
            try:
                response = self._http.post(self.url, content=body)
            except httpx.ConnectError as exc:
                why = f"ingestor at {self.url} refused the connection (is it running?): {exc}"
            except httpx.TransportError as exc:
                why = f"no answer from {self.url} ({type(exc).__name__}: {exc})"
            else:
                if response.status_code in (202, 400):
                    return _result(response, retries)
                if response.status_code == 401:
                    raise IngestAuthError(
                        f"{self.url} refused the token (401): pass --token or set "
                        "TRANSITSTREAM_INGEST__TOKENS to a token the ingestor accepts"
                    )
                if response.status_code not in RETRY_STATUSES:
                    return PostResult(
                        response.status_code,
                        retries=retries,
                        failed=f"HTTP {response.status_code}: {response.text[:300]}",
                    )
                why = f"HTTP {response.status_code}: {_detail(response)}"
                hint = retry_after_s(response.headers.get("Retry-After"))
            elapsed = self._monotonic() - started
            if elapsed >= self.max_retry_s:
                return PostResult(
                    None,
                    retries=retries,
                    failed=f"gave up after {elapsed:.0f} s and {retries} retries: {why}",
                )
            wait = min(BACKOFF_CAP_S, max(hint or 0.0, BACKOFF_START_S * 2**retries))
            wait = min(wait, self.max_retry_s - elapsed)
            self._on_wait(f"{why}; retrying the same batch in {wait:.1f} s", wait)
            self._sleep(wait)
            retries += 1


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    return str(data.get("detail", data) if isinstance(data, dict) else data)[:300]


def _result(response: httpx.Response, retries: int) -> PostResult:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return PostResult(
        response.status_code,
        accepted=int(data.get("accepted", 0)),
        rejected=int(data.get("rejected", 0)),
        errors=list(data.get("errors", [])),
        retries=retries,
    )
