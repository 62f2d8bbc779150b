"""The accuracy report as a picture: error per horizon band, one bar per method."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from transitstream.evaluate.eta import BANDS, METHODS, EtaReport

COLORS = {"model": "#1f77b4", "timetable": "#ff7f0e", "speed": "#7f7f7f"}
LABELS = {"model": "ours", "timetable": "timetable", "speed": "distance / speed"}


def accuracy_figure(report: EtaReport) -> Figure:
    """Mean and p90 absolute error side by side, on one scale per panel, so a reader sees both
    the typical miss and the bad one."""
    bands = [b for b, _, _ in BANDS if report.stat(b, "model") is not None]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=False)
    width = 0.8 / len(METHODS)
    for ax, (title, attr) in zip(axes, (("mean", "mean_s"), ("p90", "p90_s")), strict=True):
        for i, method in enumerate(METHODS):
            values = []
            for band in bands:
                stat = report.stat(band, method)
                values.append(getattr(stat, attr) / 60.0 if stat is not None else 0.0)
            xs = [x + (i - (len(METHODS) - 1) / 2) * width for x in range(len(bands))]
            ax.bar(xs, values, width, label=LABELS[method], color=COLORS[method])
        ax.set_xticks(range(len(bands)), bands)
        ax.set_xlabel("true horizon")
        ax.set_ylabel("absolute error (min)")
        ax.set_title(f"{title} absolute error")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(frameon=False)
    fig.suptitle(f"ETA accuracy: {report.scored:,} predictions per method")
    fig.tight_layout()
    return fig


def save_accuracy_plot(report: EtaReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = accuracy_figure(report)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
