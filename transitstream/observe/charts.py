"""Charts for the notebooks and reports (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

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
