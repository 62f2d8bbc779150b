"""Which of a fix's arrival predictions the stream job publishes: those that changed materially.

A vehicle's latest fix of each micro-batch predicts every stop ahead (about 30; see
`RouteBrain.process`), but from one fix to the next most of those move by a few seconds, which
no rider notices. Publishing them all meant ~30 `stop.eta.v1` records per position to build,
encode, produce and project, the bulk of the job's work. Like real feeds, the job publishes a
stop's prediction for a vehicle's trip only when

* nothing was published for it yet on this trip;
* it moved by at least max(`eta_change_min_s`, `eta_change_ratio` x its horizon) from the one
  last published (a minute matters at the next stop, less so half an hour out); or
* the one last published was made `eta_refresh_s` ago or more, so that the read API, which
  hides predictions older than `api.eta_max_age_s`, always has a recent one.

Both thresholds at 0 publish every stop at every fix. `transitstream.predict` (and so
`transitstream eval eta`) still scores every prediction: this is a choice of what to send.

What was published is part of the route's state in Spark's state store (`Sent`, in
`RouteBrain`'s JSON), so a replayed micro-batch decides exactly as the first run did. Passed
stops leave it, and a new trip starts it afresh; the read models drop the ETAs of passed stops
themselves (`project.stale`, from each vehicle's enriched position, which is sent every fix).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transitstream.config import PredictSettings


@dataclass(slots=True)
class Sent:
    """What was last published for one vehicle's trip: per stop from `first` on, the predicted
    time and when it was made (epoch ms; 0: never)."""

    trip_id: str
    first: int
    predicted_ms: list[int]
    made_ms: list[int]

    def to_list(self) -> list[Any]:
        return [self.trip_id, self.first, self.predicted_ms, self.made_ms]

    @classmethod
    def from_list(cls, data: list[Any]) -> Sent:
        return cls(*data)

    def aligned(self, trip_id: str, first: int, n: int) -> Sent:
        """This memory for stops first .. first + n - 1 of `trip_id`: passed stops dropped, a
        stop it never saw (a relocated bus, a new trip) as never published."""
        if trip_id != self.trip_id:
            return Sent(trip_id, first, [0] * n, [0] * n)
        if first == self.first and len(self.predicted_ms) == n:
            return self  # the usual fix: same trip, same stops ahead
        shift = first - self.first
        if shift >= 0:
            pred, made = self.predicted_ms[shift:], self.made_ms[shift:]
        else:
            pred, made = [0] * -shift + self.predicted_ms, [0] * -shift + self.made_ms
        if len(pred) != n:
            pred, made = (pred + [0] * n)[:n], (made + [0] * n)[:n]
        return Sent(trip_id, first, pred, made)


def tolerance_ms(predicted_ms: float, now_ms: float, s: PredictSettings) -> float:
    """How far a prediction made at `now_ms` may move before it is published again."""
    return max(s.eta_change_min_s * 1000.0, s.eta_change_ratio * (predicted_ms - now_ms))


def to_publish(
    sent: Sent | None,
    trip_id: str,
    first: int,
    arrival_s: list[float],
    now_ms: int,
    s: PredictSettings,
) -> tuple[Sent, list[tuple[int, int]]]:
    """(stop index, predicted ms) of the predictions to publish at `now_ms`, from a fix's
    `arrival_s` (stop `first` on), and the memory with them recorded."""
    n = len(arrival_s)
    if sent is None:
        memory = Sent(trip_id, first, [0] * n, [0] * n)
    else:
        memory = sent.aligned(trip_id, first, n)  # updated in place: the caller keeps this one
    pred, made = memory.predicted_ms, memory.made_ms
    stale_before = now_ms - s.eta_refresh_s * 1000.0
    least, ratio = s.eta_change_min_s * 1000.0, s.eta_change_ratio
    out: list[tuple[int, int]] = []
    for i, t in enumerate(arrival_s):
        p = round(t * 1000)
        change = p - pred[i]
        if change < 0:
            change = -change
        # `tolerance_ms`, inlined: this loop runs for every stop ahead at every fix
        if made[i] <= stale_before or (change >= least and change >= ratio * (p - now_ms)):
            pred[i] = p
            made[i] = now_ms
            out.append((first + i, p))
    return memory, out
