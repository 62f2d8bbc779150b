"""Where the poller's next scan starts, and how it recognises rows it already pushed."""

from __future__ import annotations

from transitstream.serve.poller import RevisionWindow, Seen


def test_scan_starts_back_by_the_overlap() -> None:
    window = RevisionWindow(start=100, overlap_s=2.0)
    assert window.low(0.0) == 100
    window.saw(0.0, 110)
    window.saw(1.0, 120)
    window.saw(1.5, 115)  # lower than seen: a late commit, no new mark
    assert window.low(1.9) == 100  # nothing is 2 s old yet: rescan from the start
    assert window.low(2.0) == 110
    assert window.low(3.5) == 120
    assert window.high == 120 and not window.marks


def test_zero_overlap_follows_the_highest_revision() -> None:
    window = RevisionWindow(start=0, overlap_s=0.0)
    window.saw(5.0, 42)
    assert window.low(5.0) == 42


def test_seen_dedupes_by_key_and_revision() -> None:
    seen = Seen()
    assert seen.fresh("bus-1", 10)
    assert not seen.fresh("bus-1", 10) and not seen.fresh("bus-1", 9)
    assert seen.fresh("bus-1", 11) and seen.fresh("bus-2", 3)
    seen.forget_below(5)
    assert seen.revisions == {"bus-1": 11}
