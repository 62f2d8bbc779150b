"""Where the poller's next scan starts, and which rows it already published.

A revision is taken when a row is written but becomes visible when its transaction commits, so
a scan starts a little back (`RevisionWindow`) and recognises rows it already saw by key
(`Seen`, `SeenSets`).
"""

from __future__ import annotations

from collections import deque


class RevisionWindow:
    """Where the next scan starts: the highest revision seen at least `overlap_s` ago."""

    def __init__(self, start: int, overlap_s: float) -> None:
        self.overlap_s = overlap_s
        self.floor = start
        self.marks: deque[tuple[float, int]] = deque()
        self.high = start

    def low(self, now: float) -> int:
        while self.marks and self.marks[0][0] <= now - self.overlap_s:
            self.floor = max(self.floor, self.marks.popleft()[1])
        return self.floor

    def saw(self, now: float, revision: int) -> None:
        if revision > self.high:
            self.high = revision
            self.marks.append((now, revision))


class Seen:
    """Key -> highest revision already published, forgotten once below the scan window.

    A scan notes what it finds in a dict of its own (`scan`) and `keep`s it only once it has
    fully succeeded: a scan that fails leaves what was published as it was."""

    def __init__(self) -> None:
        self.revisions: dict[str, int] = {}

    def fresh(self, key: str, revision: int, scan: dict[str, int]) -> bool:
        if revision <= scan.get(key, self.revisions.get(key, -1)):
            return False
        scan[key] = revision
        return True

    def keep(self, scan: dict[str, int]) -> None:
        self.revisions.update(scan)

    def forget_below(self, low: int) -> None:
        self.revisions = {k: r for k, r in self.revisions.items() if r > low}


class SeenSets:
    """Key -> (count, sum) of the revisions in the scan window: for keys with many rows (a stop's
    ETAs), where a late commit can add a row *below* the highest revision already seen (two
    writers, committing out of revision order), which `Seen` would take for old news.

    Any row entering the window changes (count, sum): with the count unchanged, the entering
    revisions are all above the window's floor and the leaving ones at or below it, so the sum
    grows. Rows leaving the window report the key once more: a spare board read, never a miss.
    """

    def __init__(self) -> None:
        self.versions: dict[str, tuple[int, int, int]] = {}  # key -> (count, sum, max)

    def fresh(
        self, key: str, count: int, total: int, high: int, scan: dict[str, tuple[int, int, int]]
    ) -> bool:
        """As `Seen.fresh`: noted in the scan's own `scan`, kept by `keep`."""
        old = scan.get(key, self.versions.get(key))
        scan[key] = (count, total, high)
        return old is None or old[:2] != (count, total)

    def keep(self, scan: dict[str, tuple[int, int, int]]) -> None:
        self.versions.update(scan)

    def forget_below(self, low: int) -> None:
        self.versions = {k: v for k, v in self.versions.items() if v[2] > low}
