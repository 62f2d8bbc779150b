from __future__ import annotations

from pathlib import Path

from transitstream.progress import is_marked, mark


def test_mark_writes_the_seed_format_once(tmp_path: Path) -> None:
    log = tmp_path / "progress_log.md"
    assert not is_marked(0, "Infra up", log)
    assert mark(0, "Infra up", log) == "- Milestone 0: Infra up"
    mark(0, "Infra up", log)
    lines = log.read_text().splitlines()
    assert lines.count("- Milestone 0: Infra up") == 1
    assert is_marked(0, "Infra up", log)
    mark(1, "Ingestion", log)
    assert log.read_text().splitlines()[-1] == "- Milestone 1: Ingestion"
