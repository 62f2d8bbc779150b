"""Charts for the notebooks and reports (matplotlib, headless)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from transitstream.gtfs import Feed, trip_polyline
from transitstream.infra.stack import MEMORY_BUDGET_MB, ComponentStatus


def memory_chart(rows: Sequence[ComponentStatus], budget_mb: int = MEMORY_BUDGET_MB) -> Figure:
    """Resident memory per process, stacked against the budget the README promises."""
    fig, ax = plt.subplots(figsize=(7, 1.8))
    left = 0.0
    for row in rows:
        ax.barh(["stack"], [row.rss_mb], left=left, label=f"{row.name} {row.rss_mb:.0f} MB")
        left += row.rss_mb
    ax.axvline(budget_mb, color="crimson", linestyle="--", label=f"budget {budget_mb} MB")
    ax.set_xlim(0, budget_mb * 1.1)
    ax.set_xlabel("resident memory (MB)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=3, fontsize=8, frameon=False)
    ax.set_title(f"Idle native stack: {left:.0f} MB of {budget_mb} MB")
    fig.tight_layout()
    return fig


def route_map(
    feed: Feed,
    positions: Sequence[tuple[float, float]] = (),
    highlight: Sequence[tuple[float, float]] = (),
    title: str = "",
) -> Figure:
    """Every route's shapes in its GTFS colour, optional vehicle fixes on top, no map tiles
    (so it works offline). `highlight` draws points that deserve attention (say, rejected or
    anomalous fixes) in red."""
    fig, ax = plt.subplots(figsize=(7, 6))
    drawn: set[str] = set()
    for trip in feed.trips.values():
        key = trip.shape_id or trip.trip_id
        if key in drawn:
            continue
        drawn.add(key)
        line = trip_polyline(feed, trip.trip_id)
        route = feed.routes[trip.route_id]
        color = f"#{route.color}" if route.color and len(route.color) == 6 else None
        ax.plot(line.lons, line.lats, linewidth=1.2, color=color, alpha=0.8)
    if positions:
        ax.scatter([p[1] for p in positions], [p[0] for p in positions], s=6, c="black", zorder=3)
    if highlight:
        ax.scatter([p[1] for p in highlight], [p[0] for p in highlight], s=30, c="red", zorder=4)
    ax.set_aspect(1 / math.cos(math.radians(sum(ax.get_ylim()) / 2)))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title or f"{len(feed.routes)} routes, {len(feed.stops)} stops")
    fig.tight_layout()
    return fig
