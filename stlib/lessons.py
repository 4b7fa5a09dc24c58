"""Precompute every lesson's runs ahead of a class: ``python -m stlib precompute [--fast] [LESSON ...]``.

It executes each notebook in ``notebooks/`` (in memory; the files are not changed) with the cache on, so the same cells
in class replay from disk at once. With ``$STLIB_FIGURE_DIR`` set it also writes every picture the lesson showed there,
as ``<lesson>_<cell>[_<n>].png`` (cell: the 0-based index of the cell in the notebook), to be looked at.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from .cache import cache_dir
from .config import REPO
from .errors import StlibError

NOTEBOOKS = REPO / "notebooks"


def lesson_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def select_lessons(paths: Sequence[Path], lessons: Sequence[str] = ()) -> list[Path]:
    """The lessons among ``paths`` whose file name starts with one of ``lessons`` (all when empty): ``"07"``,
    ``"07_style_transfer"`` and ``"notebooks/07_style_transfer.ipynb"`` all name lesson 07."""
    if not lessons:
        return list(paths)
    chosen: list[Path] = []
    for lesson in lessons:
        prefix = Path(lesson).name.removesuffix(".ipynb")
        if not (matches := [path for path in paths if prefix and path.stem.startswith(prefix)]):
            raise StlibError(f"no lesson {lesson!r}; available: {', '.join(path.stem for path in paths)}")
        chosen += [path for path in matches if path not in chosen]
    return sorted(chosen)


def save_figures(notebook, stem: str, folder: Path) -> list[Path]:
    """Write the PNG outputs of an executed notebook to ``folder/<stem>_<cell>[_<n>].png``."""
    import base64

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, cell in enumerate(notebook.cells):
        pngs = [out.data["image/png"] for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
        for n, png in enumerate(pngs):
            path = folder / f"{stem}_{index:02d}{f'_{n + 1}' if len(pngs) > 1 else ''}.png"
            path.write_bytes(base64.b64decode(png))
            written.append(path)
    return written


def execute(path: Path, *, fast: bool, cache_only: bool = False, timeout: int = 3600, cells=(), sources=None,
            env=None, **client):
    """The notebook at ``path`` executed in a fresh kernel (in memory) with ``STLIB_FAST``, ``STLIB_CACHE_ONLY`` and
    ``env`` set, ``cells`` appended and ``sources`` (cell index → source) pasted over those cells (fill-ins answered).
    ``client``: more `nbclient.NotebookClient` options (``store_widget_state=True`` for the site)."""
    from unittest.mock import patch

    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    for index, source in (sources or {}).items():
        notebook.cells[index].source = source
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    with patch.dict(os.environ, STLIB_FAST="1" if fast else "0", STLIB_CACHE_ONLY="1" if cache_only else "0",
                    **(env or {})):
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",  # the kernel inherits the environment
                       resources={"metadata": {"path": str(path.parent)}}, **client).execute()
    return notebook


def precompute(fast: bool = False, lessons: Sequence[str] = (), timeout: int = 3600) -> int:
    """Run every lesson (or those ``lessons`` name, e.g. ``["00", "07"]``) once, in full mode unless ``fast``;
    print the time and the cache folder. (The Live lab's networks ship trained, in data/networks/.)"""
    paths = lesson_paths()
    if not paths:
        raise StlibError(f"no lessons found in {NOTEBOOKS}; run this from a clone of the repository")
    paths = select_lessons(paths, lessons)
    start = time.perf_counter()
    for path in tqdm(paths, desc=f"precomputing ({'fast' if fast else 'full'} mode)", unit="lesson"):
        t = time.perf_counter()
        # one more cell: how long the lesson's first run took to show its first live picture
        notebook = execute(path, fast=fast, timeout=timeout,
                           cells=["from stlib import live as _live\nprint(_live.first_picture_seconds('first'))"])
        first = "".join(o.get("text", "") for o in notebook.cells[-1].outputs).strip()
        shown = f"; first live picture after {float(first):.1f} s" if first not in ("", "None") else ""
        tqdm.write(f"{path.name}: {time.perf_counter() - t:.0f} s{shown}")
        if os.environ.get("STLIB_FIGURE_DIR"):
            save_figures(notebook, path.stem, Path(os.environ["STLIB_FIGURE_DIR"]))
    noun = "lesson" if len(paths) == 1 else "lessons"
    print(f"precomputed {len(paths)} {noun} in {time.perf_counter() - start:.0f} s; cache: {cache_dir()}")
    return 0
