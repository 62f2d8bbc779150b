"""How the stack's status looks to a person: one table for the CLI and the notebooks alike."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from transitstream.infra.stack import MEMORY_BUDGET_MB, ComponentStatus


def status_table(
    rows: Sequence[ComponentStatus], title: str = "TransitStream native stack"
) -> Table:
    table = Table(title=title)
    for col in ("part", "state", "endpoint", "pid", "memory"):
        table.add_column(col)
    for s in rows:
        if s.ready:
            state = "[green]ready[/]"
        else:
            state = "[yellow]not answering[/]" if s.running else "[red]stopped[/]"
        memory = f"{s.rss_mb:.0f} MB" if s.running else "-"
        table.add_row(s.title, state, s.endpoint, str(s.pid or "-"), memory)
    return table


def memory_line(rows: Sequence[ComponentStatus]) -> str:
    total = sum(s.rss_mb for s in rows)
    return f"resident memory: {total:.0f} MB of the {MEMORY_BUDGET_MB} MB budget"
