"""Precompute every lesson's runs ahead of a class: ``python -m stlib precompute``.

It executes each notebook in ``notebooks/`` (in memory; the files are not
changed) with the cache on, so the same cells in class replay from disk at once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tqdm.auto import tqdm

from .cache import cache_dir
from .errors import StlibError


def notebooks_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "notebooks"


def lesson_paths() -> list[Path]:
    return sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


def precompute(fast: bool = False, timeout: int = 3600) -> int:
    """Run every lesson once (full mode unless ``fast``); print the time and the cache folder."""
    import nbformat
    from nbclient import NotebookClient

    paths = lesson_paths()
    if not paths:
        raise StlibError(f"no lessons found in {notebooks_dir()}; run this from a clone of the repository")
    os.environ["STLIB_FAST"] = "1" if fast else "0"  # inherited by the kernels
    start = time.perf_counter()
    for path in tqdm(paths, desc=f"precomputing ({'fast' if fast else 'full'} mode)", unit="lesson"):
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        t = time.perf_counter()
        client.execute()
        tqdm.write(f"{path.name}: {time.perf_counter() - t:.0f} s")
    print(f"precomputed {len(paths)} lessons in {time.perf_counter() - start:.0f} s; cache: {cache_dir()}")
    return 0
