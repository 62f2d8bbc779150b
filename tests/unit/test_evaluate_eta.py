"""The accuracy report's statistics on hand-made predictions, the anomaly scoring, and the plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from transitstream.evaluate.anomalies import score_anomalies
from transitstream.evaluate.eta import (
    BandStat,
    EtaReport,
    accuracy,
    band_of,
    percentile,
    truth_index,
)
from transitstream.evaluate.plot import save_accuracy_plot
from transitstream.predict import AnomalyEvent, Prediction
from transitstream.simulate import Anomaly, Arrival

T0 = 1_000_000_000


def pred(seq: int, made_s: float, error_s: float, true_s: float, method: str) -> Prediction:
    """A prediction made at T0 + made_s, for a stop truly reached at T0 + true_s, off by error_s."""
    made, predicted = T0 + round(made_s * 1000), T0 + round((true_s + error_s) * 1000)
    return Prediction(
        "s", seq, "bus-1", "t1", "R", predicted, made, (predicted - made) / 1000, 0, method
    )


def arrival(seq: int, true_s: float) -> Arrival:
    return Arrival("bus-1", "t1", "R", "s", seq, 0, T0 + round(true_s * 1000), None)


def test_bands_are_half_open_minutes() -> None:
    assert [band_of(h) for h in (0, 299.9, 300, 599, 600, 1199, 1200, 7200)] == [
        "0-5 min",
        "0-5 min",
        "5-10 min",
        "5-10 min",
        "10-20 min",
        "10-20 min",
        "20+ min",
        "20+ min",
    ]
    assert band_of(-1) is None


def test_percentile_interpolates_between_order_statistics() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == pytest.approx(
        9.1
    )
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0


def test_band_statistics_on_a_hand_made_set() -> None:
    truth = truth_index([arrival(1, 1000), arrival(2, 2000), arrival(3, 3000)])
    preds = [
        # stop 1, true horizon 100 s (0-5 min): errors 10, -20, 30, -40 (model)
        *(pred(1, 900, e, 1000, "model") for e in (10, -20, 30, -40)),
        pred(1, 900, 100, 1000, "timetable"),
        # stop 2, true horizon 400 s (5-10 min)
        pred(2, 1600, 60, 2000, "model"),
        # stop 3, true horizon 2000 s (20+ min)
        pred(3, 1000, -120, 3000, "model"),
        # not scored: an unknown stop, and a stop already reached when predicted
        pred(9, 900, 5, 1000, "model"),
        pred(1, 1100, 5, 1000, "model"),
    ]
    stats = {(b.band, b.method): b for b in accuracy(truth, preds)}
    assert set(stats) == {
        ("0-5 min", "model"),
        ("0-5 min", "timetable"),
        ("5-10 min", "model"),
        ("20+ min", "model"),
    }
    near = stats[("0-5 min", "model")]
    assert (near.n, near.mean_s) == (4, 25.0)
    assert near.p90_s == pytest.approx(37.0)  # |errors| 10 20 30 40: 30 + 0.7 * 10
    assert stats[("0-5 min", "timetable")] == BandStat("0-5 min", "timetable", 1, 100.0, 100.0)
    assert stats[("5-10 min", "model")].mean_s == 60.0
    assert stats[("20+ min", "model")].p90_s == 120.0


def test_the_verdict_needs_a_win_on_mean_and_p90_in_every_band() -> None:
    def report(*stats: BandStat) -> EtaReport:
        return EtaReport(list(stats), scored=1, unscored=0, events=1, seconds=1.0)

    ours = BandStat("0-5 min", "model", 10, 20.0, 40.0)
    assert report(
        ours,
        BandStat("0-5 min", "timetable", 10, 90.0, 200.0),
        BandStat("0-5 min", "speed", 10, 50.0, 100.0),
    ).model_wins()
    assert not report(
        ours,
        BandStat("0-5 min", "timetable", 10, 90.0, 200.0),
        BandStat("0-5 min", "speed", 10, 50.0, 39.0),  # a better p90
    ).model_wins()


def test_anomaly_scoring_counts_found_missed_and_false_alarms() -> None:
    injected = [
        Anomaly("bus-1", "detour", "t", "R", 100_000, 400_000, {}),
        Anomaly("bus-2", "stall", "t", "R", 100_000, 700_000, {}),
        Anomaly("bus-3", "jump", "t", "R", 500_000, 500_000, {}),
    ]

    def found(vid: str, kind: str, at: int, status: str = "open") -> AnomalyEvent:
        return AnomalyEvent(kind, status, "info", vid, "t", "R", at, {})  # type: ignore[arg-type]

    detected = [
        found("bus-1", "off_route", 150_000),
        found("bus-1", "off_route", 420_000, "close"),  # a close is not a detection
        found("bus-2", "stalled", 290_000),
        found("bus-4", "stalled", 290_000),  # nothing injected on bus-4
        found("bus-3", "jump", 900_000, "instant"),  # too far from the injected time
        found("bus-1", "late", 150_000),  # not scored
    ]
    scores = {s.kind: s for s in score_anomalies(injected, detected)}
    assert (scores["detour"].found, scores["detour"].false_positives) == (1, 0)
    assert (scores["stall"].found, scores["stall"].false_positives) == (1, 1)
    assert (scores["jump"].found, scores["jump"].false_positives) == (0, 1)
    assert scores["jump"].missed == ["bus-3@500000"]


def test_the_plot_is_written_as_a_png(tmp_path: Path) -> None:
    stats = [
        BandStat(band, method, 5, base * k, base * k * 2)
        for band, base in (("0-5 min", 20.0), ("20+ min", 120.0))
        for method, k in (("model", 1.0), ("timetable", 3.0), ("speed", 2.0))
    ]
    report = EtaReport(stats, scored=10, unscored=0, events=5, seconds=0.1)
    path = save_accuracy_plot(report, tmp_path / "out" / "eta.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
