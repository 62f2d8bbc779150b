"""A per-process cache of `/eta` and `/vehicles/{id}` answers, kept fresh by the poller.

The rule ("fresh"): the cache never answers with data older than what this process's poller has
seen. Every poller scan that completes is a generation; it reports the keys it saw change
(`stop:<id>` for a board, `vehicle:<id>` for a vehicle, its open anomalies and the boards it is
on). An entry remembers the generation under which its Postgres read *started*, and is dropped,
or refused if still being filled, when a later scan reports one of its keys: a read that began
before a commit's scan finished may or may not have seen the commit, so it is not trusted.

The cache answers only while it can keep that rule:
- the poller's last scan succeeded and its LISTEN connection is up (`live`); otherwise every
  request reads Postgres (and the cache is emptied when the poller recovers);
- no NOTIFY is pending: once a writer's NOTIFY has reached this process, requests read Postgres
  directly until a scan that started after it has finished (usually within 20-50 ms).
Read-your-writes is therefore best-effort, not guaranteed: Postgres delivers a NOTIFY to the
listener asynchronously after the commit, and this process's event loop may serve a request
before it has handled the notification. That window is typically well under a millisecond on
one host; it is bounded by the next scan (`push_interval_s`), which sees the commit anyway.
A writer that commits without NOTIFY is seen by the interval scan too, as the WebSocket clients
see it.

Changes no scan can see (rows deleted without a trace, as only the sample-data tooling does, or
tables swapped in by a projector rebuild, whose rows carry revisions the scan window has passed)
are bounded by `ttl_s` (`api.cache_ttl_s`): no entry is served longer than that after its read.

Time-dependent fields are not cached: entries hold rows and templates (`answers.py`), and each
request re-derives `seconds_away`, the ages, `stale` and `generated_at` with its own instant.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any

from transitstream.serve import metrics

KEEP_GENERATIONS = 1000  # a fill that spans more scans than this is not stored
HIT, MISS, BYPASS = (metrics.CACHE.labels(r) for r in ("hit", "miss", "bypass"))


class ReadCache:
    def __init__(self, max_entries: int, ttl_s: float = 30.0) -> None:
        self.max_entries, self.ttl_s = max_entries, ttl_s
        self.entries: OrderedDict[Hashable, tuple[Any, frozenset[str], float]] = OrderedDict()
        self.by_tag: dict[str, set[Hashable]] = {}
        self.changed_at: dict[str, int] = {}  # tag -> generation of the last scan reporting it
        self.generation = 0  # scans completed
        self.reset_at = 0  # generation of the last recovery: reads begun before it are refused
        self.notified = 0  # NOTIFYs received (a counter: only its order matters)
        self.covered = 0  # NOTIFYs received before the last completed scan started
        self.scanned_ok = False
        self.listening = False

    # --- the request side ---------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self.scanned_ok and self.listening

    @property
    def answering(self) -> bool:
        """Live, and no NOTIFY waits for a scan (the module's rule)."""
        return self.live and self.notified <= self.covered

    def get(self, key: Hashable) -> Any | None:
        """The entry for `key` if the cache may answer now (see the module's rule), else None;
        counted in serve_cache_requests_total."""
        found = self.lookup(key)
        self.count(found is not None)
        return found

    def count(self, hit: bool) -> None:
        """Count one request in serve_cache_requests_total: a hit, a miss, or a bypass (the
        cache may not answer now). For a caller that `lookup`s and may still find the entry
        unusable (a board that only Postgres can complete is a miss, not a hit)."""
        if not self.answering:
            BYPASS.inc()
        else:
            (HIT if hit else MISS).inc()

    def lookup(self, key: Hashable) -> Any | None:
        """`get` without counting (the fast path counts only its hits: a miss goes on to the
        route, which asks again)."""
        if not self.answering:
            return None
        found = self.entries.get(key)
        if found is None:
            return None
        if found[2] < time.monotonic():
            self.drop(key)
            return None
        self.entries.move_to_end(key)
        return found[0]

    def begin(self) -> int | None:
        """Call before a Postgres read that may fill an entry: the generation to `put` it with,
        or None when nothing read now may be stored (the poller is not live)."""
        return self.generation if self.live else None

    def put(self, key: Hashable, value: Any, tags: Iterable[str], started: int | None) -> bool:
        """Store `value` read from Postgres since generation `started`, unless a scan finished
        since then reported one of its `tags` (the read may predate that change)."""
        if started is None or not self.live or started < self.reset_at:
            return False  # a read begun before an outage: changes it may predate went unreported
        if self.generation - started > KEEP_GENERATIONS:
            return False
        tags = frozenset(tags)
        if any(self.changed_at.get(t, -1) > started for t in tags):
            return False
        self.drop(key)
        self.entries[key] = (value, tags, time.monotonic() + self.ttl_s)
        for t in tags:
            self.by_tag.setdefault(t, set()).add(key)
        while len(self.entries) > self.max_entries:
            self.drop(next(iter(self.entries)))
        return True

    def drop(self, key: Hashable) -> None:
        found = self.entries.pop(key, None)
        if found is None:
            return
        for t in found[1]:
            keys = self.by_tag.get(t)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_tag[t]

    # --- the poller side -----------------------------------------------------------------

    def notify(self) -> None:
        """A writer committed (its NOTIFY arrived): answer from Postgres until it is scanned."""
        self.notified += 1

    def scan_started(self) -> int:
        """Returns the token to pass to `scan_done`: the NOTIFYs this scan will cover."""
        return self.notified

    def scan_done(self, token: int, changed: Iterable[str]) -> None:
        """A scan that started at `token` finished and saw `changed` (tags) change."""
        recovering = not self.scanned_ok  # (or the first scan): changes may have been missed
        if recovering:
            self.clear()
        self.generation += 1
        if recovering:
            # reads begun before now are refused: this scan need not report all that changed in
            # the outage, as the poller's window floor rose with the clock meanwhile, and a late
            # commit then can fall below it (its all-or-nothing scans do not cover that)
            self.reset_at = self.generation
        for t in changed:
            self.changed_at[t] = self.generation
            for key in list(self.by_tag.get(t, ())):
                self.drop(key)
        self.covered = max(self.covered, token)
        self.scanned_ok = True
        if self.generation % 100 == 0:  # fills older than KEEP_GENERATIONS are refused anyway
            old = self.generation - KEEP_GENERATIONS
            self.changed_at = {t: g for t, g in self.changed_at.items() if g > old}

    def scan_failed(self) -> None:
        self.scanned_ok = False

    def set_listening(self, up: bool) -> None:
        """The LISTEN connection is up (or not): NOTIFYs sent while it was down were lost."""
        if up and not self.listening:
            self.notify()  # not trusted until a scan that started after this has finished
        self.listening = up

    def clear(self) -> None:
        self.entries.clear()
        self.by_tag.clear()


def eta_key(stop_id: str, route_id: str | None) -> Hashable:
    """The entry of one stop's board (per route filter): the route and the fast path both ask
    by it, so a request the route stored is one the fast path finds."""
    return ("eta", stop_id, route_id)


def vehicle_key(vehicle_id: str) -> Hashable:
    return ("vehicle", vehicle_id)


def stop_tag(stop_id: str) -> str:
    return f"stop:{stop_id}"


def vehicle_tag(vehicle_id: str) -> str:
    return f"vehicle:{vehicle_id}"
