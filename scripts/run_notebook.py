"""Execute notebooks top to bottom with nbclient, headless, and save them with their outputs.

python scripts/run_notebook.py notebooks/01-quickstart.ipynb [more.ipynb ...] [--no-save]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def run(path: Path, save: bool = True, timeout: int = 600) -> float:
    """Run one notebook in its own folder; raises CellExecutionError on the first failing cell."""
    notebook = nbformat.read(path, as_version=4)
    started = time.monotonic()
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    if save:
        nbformat.write(notebook, path)
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    save = "--no-save" not in argv
    for name in [a for a in argv if not a.startswith("--")]:
        seconds = run(Path(name), save)
        print(f"{name}: ran top to bottom in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
