"""What a person watching a run sees: one live line while it runs, one table when it ends."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from transitstream.console import make_console
from transitstream.gtfs import format_gtfs_time
from transitstream.simulate.summary import Counts, RunSummary


def clock_text(sim_ms: int) -> str:
    return format_gtfs_time(max(0, sim_ms // 1000))


class LiveProgress:
    """A rich progress bar over sim time; does nothing when `quiet` (tests, notebooks)."""

    def __init__(self, total_ticks: int | None, quiet: bool, console: Console | None = None):
        self.quiet = quiet
        self.console = console or make_console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]sim {task.description}"),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._total = total_ticks

    def __enter__(self) -> LiveProgress:
        if not self.quiet:
            self._progress.start()
            self._task = self._progress.add_task("--:--:--", total=self._total, stats="starting")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.quiet:
            self._progress.stop()

    def update(self, sim_ms: int, counts: Counts, elapsed_s: float) -> None:
        if self.quiet or self._task is None:
            return
        rate = counts.sent / elapsed_s if elapsed_s > 0 else 0.0
        stats = (
            f"sent {counts.sent}  accepted {counts.accepted}  rejected {counts.rejected}  "
            f"retries {counts.retries}  {rate:,.0f} ev/s"
        )
        self._progress.update(self._task, description=clock_text(sim_ms), advance=1, stats=stats)

    def message(self, text: str, _seconds: float = 0.0) -> None:
        """A line above the bar (retries, waits); printed even when quiet would hide the bar."""
        if not self.quiet:
            self._progress.console.print(f"[yellow]{text}[/]", highlight=False)


def summary_table(s: RunSummary) -> Table:
    c = s.counts
    table = Table(title=f"simulate {s.run_id}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    end = "until stopped" if s.window_end_ms is None else _utc(s.window_end_ms)
    table.add_row("timetable", f"{s.template_date} replayed on {s.run_date} ({s.timezone})")
    table.add_row("event times", f"{_utc(s.window_start_ms)} .. {end}")
    table.add_row("vehicles / ticks", f"{len(s.vehicles)} / {s.ticks}")
    table.add_row("events generated", str(c.generated))
    table.add_row("sent (items+bodies)", f"{c.sent} in {c.batches} request(s), {s.rate:,.0f}/s")
    table.add_row("accepted / rejected", f"{c.accepted} / {c.rejected}")
    table.add_row("rejected by code", _fmt(c.rejected_by_code))
    injected = ", ".join(f"{k} {c.bad_matched[k]}/{n}" for k, n in sorted(c.injected.items()))
    table.add_row("injected (matched/n)", injected or "-")
    if c.mismatches or c.good_rejected:
        table.add_row("[red]unexpected[/]", _fmt(c.mismatches + c.good_rejected))
    elif c.sent:
        table.add_row("unexpected", "none: each bad event got its code, no good one was refused")
    table.add_row("retries", str(c.retries))
    failed = f"{c.failed_batches} ({c.failed_events} events)"
    table.add_row("failed batches", f"[red]{failed}: {c.failure}[/]" if not s.ok else failed)
    table.add_row("anomalies", _fmt(Counter(a.kind for a in s.anomalies)))
    table.add_row("arrivals recorded", str(s.arrivals))
    table.add_row("ground truth", str(s.out_dir))
    if s.interrupted:
        table.add_row("[yellow]interrupted[/]", "stopped early; the truth covers what was sent")
    for note in s.notes:
        table.add_row("note", note)
    return table


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _fmt(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "-"
