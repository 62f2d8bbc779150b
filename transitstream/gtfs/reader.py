"""Read a GTFS table from a folder or a zip as raw string rows with a column index.

Kept apart from the record building so both feed layouts go through one code path, and so every
problem with the files themselves (missing file, missing column) is reported in one place.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from transitstream.gtfs.model import GtfsError

HINT = "point TRANSITSTREAM_GTFS_PATH at a complete GTFS feed (a folder or a zip of the .txt files)"


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of one file, padded to the header's width, plus where each column sits."""

    name: str
    columns: dict[str, int]
    rows: list[list[str]]

    def col(self, name: str) -> int | None:
        return self.columns.get(name)


class FeedSource:
    """The files of a feed, wherever they live; a zip may keep them under one top folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        if path.is_dir():
            return
        if not path.is_file():
            raise GtfsError(f"GTFS feed not found at {path}: {HINT}.")
        if not zipfile.is_zipfile(path):
            raise GtfsError(f"{path} is neither a folder nor a zip file: {HINT}.")
        self._zip = zipfile.ZipFile(path)
        # Prefer the shallowest copy of each file name, so a zip of a folder works too.
        for member in sorted(self._zip.namelist(), key=lambda n: (n.count("/"), n)):
            base = PurePosixPath(member).name
            if base.endswith(".txt") and not member.startswith("__MACOSX"):
                self._members.setdefault(base, member)

    def __enter__(self) -> FeedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._zip is not None:
            self._zip.close()

    def has(self, name: str) -> bool:
        if self._zip is not None:
            return name in self._members
        return (self.path / name).is_file()

    def text(self, name: str) -> str:
        # utf-8-sig drops the BOM that spreadsheet exports put before the first header.
        if self._zip is not None:
            raw = self._zip.read(self._members[name])
        else:
            raw = (self.path / name).read_bytes()
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise GtfsError(
                f"{name} in {self.path} is not UTF-8 ({exc}); GTFS requires UTF-8: re-encode it."
            ) from None

    def table(
        self, name: str, required: tuple[str, ...], *, optional: bool = False
    ) -> Table | None:
        """The parsed file, or None when an optional file is absent."""
        if not self.has(name):
            if optional:
                return None
            raise GtfsError(f"{self.path} has no {name}, which GTFS requires: {HINT}.")
        reader = csv.reader(io.StringIO(self.text(name), newline=""))
        header = next(reader, None)
        if header is None:
            raise GtfsError(f"{name} in {self.path} is empty; it needs at least a header row.")
        columns = {h.strip().lstrip("\ufeff"): i for i, h in enumerate(header)}
        missing = [c for c in required if c not in columns]
        if missing:
            raise GtfsError(
                f"{name} in {self.path} lacks required column(s) {', '.join(missing)} "
                f"(it has: {', '.join(columns)}); fix the feed or {HINT}."
            )
        width = len(header)
        rows = list(reader)
        if any(len(row) < width for row in rows):  # trailing empty fields left out, blank lines
            rows = [row + [""] * (width - len(row)) for row in rows if any(row)]
        return Table(name, columns, rows)


def cell(row: list[str], index: int | None) -> str:
    """A stripped value, or "" for a column the file does not have."""
    return row[index].strip() if index is not None else ""


def row_error(table: Table, index: int, problem: object) -> GtfsError:
    """An error naming the file and the data row (0-based `index`, reported 1-based)."""
    return GtfsError(f"{table.name} data row {index + 1}: {problem}; fix the feed or {HINT}.")
