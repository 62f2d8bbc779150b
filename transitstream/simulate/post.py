"""Send one tick: split into batches, post, and check each rejection against what was injected.

Kept apart from the loop so the bookkeeping (which code each bad event got, what counts as a
failure) is testable with a mock transport and no clock.
"""

from __future__ import annotations

import json
from typing import Any

from transitstream.simulate.badevents import EXPECTED_CODE, NOT_JSON
from transitstream.simulate.client import IngestAuthError, IngestClient, PostResult
from transitstream.simulate.generate import Tick
from transitstream.simulate.summary import Counts
from transitstream.simulate.truth import TruthWriter


class Poster:
    def __init__(
        self,
        client: IngestClient,
        counts: Counts,
        truth: TruthWriter | None,
        max_batch: int,
        max_body_bytes: int | None = None,
    ) -> None:
        self.client, self.counts, self.truth = client, counts, truth
        self.max_batch = max(1, max_batch)
        self.max_body_bytes = max_body_bytes

    def tick(self, tick: Tick) -> None:
        """Post the tick's events (in batches of `max_batch`) and its non-JSON bodies."""
        c = self.counts
        c.generated += len(tick.fixes)
        c.injected.update(k for k in tick.kinds if k is not None)
        c.injected.update([NOT_JSON] * len(tick.raw_bodies))
        for a in range(0, len(tick.items), self.max_batch):
            if c.failure:
                return
            b = a + self.max_batch
            self._items(tick.index, tick.items[a:b], tick.kinds[a:b])
        for body in tick.raw_bodies:
            if c.failure:
                return
            self._raw(tick.index, body)

    def _send(self, body: bytes) -> PostResult:
        """A refused token fails this batch like any other failure, so it is counted and the
        run stops with the client's advice rather than a traceback."""
        try:
            return self.client.post_batch(body)
        except IngestAuthError as exc:
            return PostResult(401, failed=str(exc))

    def _account(self, result: PostResult, n: int) -> bool:
        """Add an answer to the totals; False if the body was not delivered."""
        c = self.counts
        c.batches += 1
        c.retries += result.retries
        if result.failed is not None:
            c.failed_batches += 1
            c.failed_events += n
            c.failure = result.failed
            return False
        c.sent += n
        c.accepted += result.accepted
        c.rejected += result.rejected
        return True

    def _items(self, tick: int, items: list[Any], kinds: list[str | None]) -> None:
        """Post one batch; halve it if it is over the body limit (ours, or the server's 413)."""
        if not items:
            return
        body = json.dumps(items, separators=(",", ":")).encode()
        too_big = self.max_body_bytes is not None and len(body) > self.max_body_bytes
        result = None if too_big else self._send(body)
        if len(items) > 1 and (result is None or result.status == 413):
            if result is not None:
                self.counts.retries += result.retries + 1
            half = len(items) // 2
            self._items(tick, items[:half], kinds[:half])
            self._items(tick, items[half:], kinds[half:])
            return
        if result is None:
            result = PostResult(
                None, failed=f"one event alone is over the body limit: {body[:80]!r}"
            )
        if not self._account(result, len(items)):
            self._record_bad(tick, items, kinds, {}, delivered=False)
            return
        if result.status != 202:
            self.counts.failed_batches += 1
            self.counts.failure = f"HTTP {result.status} for a JSON array: {result.errors[:1]}"
            return
        codes = result.codes_by_index()
        for code in codes.values():
            self.counts.rejected_by_code[code] += 1
        for i, kind in enumerate(kinds):
            if kind is None and i in codes:
                self.counts.good_rejected[codes[i]] += 1
        self._record_bad(tick, items, kinds, codes, delivered=True)

    def _record_bad(
        self,
        tick: int,
        items: list[Any],
        kinds: list[str | None],
        codes: dict[int | None, str],
        delivered: bool,
    ) -> None:
        for i, (item, kind) in enumerate(zip(items, kinds, strict=True)):
            if kind is None:
                continue
            expected = EXPECTED_CODE[kind]
            got = codes.get(i, "accepted") if delivered else ""
            if delivered:
                if got == expected:
                    self.counts.bad_matched[kind] += 1
                else:
                    self.counts.mismatches[f"{kind}: expected {expected}, got {got}"] += 1
            vehicle = item.get("vehicle_id") if isinstance(item, dict) else None
            if self.truth is not None:
                self.truth.bad_event(tick, vehicle, kind, expected, got)

    def _raw(self, tick: int, body: bytes) -> None:
        result = self._send(body)
        got = ""
        if self._account(result, 1):
            got = result.codes_by_index().get(None, f"HTTP {result.status}")
            self.counts.rejected_by_code[got] += 1
            if got == NOT_JSON:
                self.counts.bad_matched[NOT_JSON] += 1
            else:
                self.counts.mismatches[f"{NOT_JSON}: expected {NOT_JSON}, got {got}"] += 1
        if self.truth is not None:
            self.truth.bad_event(tick, None, NOT_JSON, NOT_JSON, got)
