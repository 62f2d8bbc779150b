"""Milestone checkpoints in `progress_log.md`: how far a learner got, for them and the instructor.

The format is one line per milestone, `- Milestone N: Title`, written once however often the
notebook is re-run.
"""

from __future__ import annotations

from pathlib import Path

from transitstream.config import get_settings

HEADER = (
    "# Progress log\n\nMilestone checkpoints, marked by the notebooks when their checks pass.\n\n"
)


def log_path() -> Path:
    """Settings.progress_log: `progress_log.md` in the project, elsewhere under test."""
    return get_settings().progress_log


def checkpoint_line(milestone: int, title: str) -> str:
    return f"- Milestone {milestone}: {title}"


def mark(milestone: int, title: str, path: Path | None = None) -> str:
    """Record the checkpoint (idempotent) and return its line."""
    path = path or log_path()
    line = checkpoint_line(milestone, title)
    text = path.read_text() if path.exists() else HEADER
    lines = text.rstrip("\n").splitlines()
    if line not in lines:
        gap = [] if lines and lines[-1].startswith("- ") else [""]
        path.write_text("\n".join([*lines, *gap, line]) + "\n")
    return line


def is_marked(milestone: int, title: str, path: Path | None = None) -> bool:
    path = path or log_path()
    return path.exists() and checkpoint_line(milestone, title) in path.read_text().splitlines()
