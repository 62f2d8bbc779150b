"""Re-execute the notebooks against the running stack and store the outputs nbval checks.

Only cells tagged with `# NBVAL_CHECK_OUTPUT` keep their outputs (they are the expected
results, shown to learners too); every other output is dropped so the files stay small and
diffs stay readable. Run after changing a notebook: `make notebooks-refresh`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def refresh(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if MARK not in cell.source:
            cell.outputs = []
            cell.execution_count = None  # nbval treats it as not run: nothing to compare
        elif any(o.get("name") == "stderr" for o in cell.outputs):
            raise SystemExit(f"{path.name}: a checked cell wrote to stderr; keep logs out of it")
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    print(f"refreshed {path.name}")


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        refresh(NOTEBOOKS / name)
