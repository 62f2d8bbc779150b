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


def status_hint(rows: Sequence[ComponentStatus]) -> str:
    """What to do when not every part answers; "" when all do.

    A half-started stack (some parts up, some not: a crash, a kill, a failed `up`) is named part
    by part, since `infra up` starts only what is missing and leaves the rest as it is.
    """
    missing = [s for s in rows if not s.ready]
    if not missing:
        return ""
    if not any(s.running for s in rows):
        return "the stack is not running: `transitstream infra up` starts it"
    parts = ", ".join(
        f"{s.name} ({'not answering, see ' + s.log if s.running else 'not running'})"
        for s in missing
    )
    return (
        f"half started: {parts}. `transitstream infra up` starts what is missing; "
        "`transitstream infra down` stops the rest."
    )
