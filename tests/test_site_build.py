"""tools/build_site.py without a kernel or a browser: the export serves everything from the site, big
figures become JPEG, lessons are chosen by number (tests/test_site.py builds and reads real pages)."""

from __future__ import annotations

import base64
import io
import re
import sys
from pathlib import Path

import nbformat
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import build_site  # noqa: E402


def _notebook_with_png(size: int) -> nbformat.NotebookNode:
    noise = Image.effect_noise((size, size), 80).convert("RGB")  # incompressible for PNG
    buf = io.BytesIO()
    noise.save(buf, format="png")
    cell = nbformat.v4.new_code_cell("plt.show()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "image/png": base64.b64encode(buf.getvalue()).decode(), "text/plain": "<Figure>"})]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · A lesson\n\n$$\\mathcal{L} = \\alpha x$$"), cell]
    return nb


def test_big_figures_go_on_the_site_as_jpeg_and_small_ones_stay_png():
    big, small = _notebook_with_png(600), _notebook_with_png(64)
    assert build_site.compact_figures(big) == 1 and build_site.compact_figures(small) == 0
    data = big.cells[1].outputs[0]["data"]
    assert "image/png" not in data and Image.open(io.BytesIO(base64.b64decode(data["image/jpeg"]))).size == (600, 600)
    assert "image/png" in small.cells[1].outputs[0]["data"]


def test_exported_page_loads_every_script_from_the_site():
    nb = _notebook_with_png(64)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {  # as nbclient stores it
        "state": {}, "version_major": 2, "version_minor": 0}}
    build_site.add_banner(nb, "fast", "2026-01-01 00:00")
    page = build_site.export(nb, build_site.lesson_title(nb))
    assert build_site.lesson_title(nb) == "99 · A lesson"
    scripts = re.findall(r"<script[^>]*\ssrc=\"([^\"]+)\"", page)
    assert scripts == ["static/require.js", "static/mathjax/tex-chtml-full.js"], scripts
    assert "static/html-manager/embed-amd.js" in page and 'paths: {anywidget: "static/anywidget/index"}' in page
    assert not re.search(r"cdn\.jsdelivr|cdnjs\.|unpkg\.com", page)
    assert "fast mode" in page and 'href="index.html"' in page


def test_npm_packages_are_pinned_with_their_checksums():
    from stlib.lab import ORT_WEB  # the Live lab's runtime, also served by the site

    for spec, sha512, *_ in [*build_site.NPM, ORT_WEB]:
        assert re.fullmatch(r"(@[\w-]+/)?[\w-]+@\d+\.\d+\.\d+", spec)
        assert len(base64.b64decode(sha512)) == 64


def test_unknown_lesson_fails_with_the_available_ones(capsys):
    with pytest.raises(SystemExit):
        build_site.main(["99", "--out", "/nonexistent/never-written"])
    assert "no lesson '99'; available: 00_" in capsys.readouterr().err


def _noisy_runs(runs: int, epochs: list[int]) -> dict:
    """Snapshots like a full-mode reconstruction from noise: a 256 px photo with less noise each epoch (their
    JPEG frames are at least as large as lesson 02's real ones, ~43 KB each at quality 85)."""
    import torch

    import stlib
    from stlib.optim import Result

    photo = stlib.load_image("chelsea", 256)
    gen = torch.Generator().manual_seed(0)
    sigmas = torch.linspace(0.5, 0.1, len(epochs)).tolist()
    snapshots = {e: (photo + s * torch.randn(photo.shape, generator=gen)).clamp(0, 1)
                 for e, s in zip(epochs, sigmas, strict=True)}
    return {f"run {r}": Result(image=photo, history=[{"total": 1.0}] * epochs[-1], steps=epochs[-1],
                               snapshots=snapshots) for r in range(runs)}


def test_a_full_mode_page_like_lesson_02_stays_under_the_limit():
    """Lesson 02 in full mode: two viewers (5 and 4 runs × 7 epochs of 256 px snapshots), each followed by
    its static grid, and a dozen small figures. Its real page was 6.2 MB with frames and grids at JPEG quality 85
    (this one 6.7 MB: its frames are heavier); the limit is 5 MB."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stlib import plot, widgets

    epochs = [0, 11, 21, 31, 41, 71, 91]
    nb = _notebook_with_png(160)  # a small figure, ~37 KB like lesson 02's loss curves
    nb.cells += [_notebook_with_png(160).cells[1] for _ in range(12)]
    state = {}
    for n, runs in enumerate((5, 4)):
        results = _noisy_runs(runs, epochs)
        viewer = widgets.SnapshotViewer(results, epochs=epochs, target=results["run 0"].image)
        state[f"viewer{n}"] = {"model_name": "AnyModel", "model_module": "anywidget", "model_module_version": "*",
                               "state": viewer.get_state()}
        fig = plot.snapshot_grid(results, epochs, target=results["run 0"].image)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        cell = nbformat.v4.new_code_cell("plot.snapshot_grid(…)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={
            "image/png": base64.b64encode(buf.getvalue()).decode(), "text/plain": "<Figure>"})]
        nb.cells.append(cell)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": state, "version_major": 2, "version_minor": 0}}
    assert build_site.compact_figures(nb) == 2  # the grids go on the site as JPEG
    page = build_site.export(nb, build_site.lesson_title(nb))
    assert len(page.encode()) < build_site.PAGE_LIMIT, f"{len(page.encode()) / 2**20:.2f} MB"  # was 6.73 MB


def test_a_lesson_is_full_mode_from_the_cache_or_fast_and_the_cache_folders_other_files_stay(tmp_path, monkeypatch):
    """make site asks the cache itself (a full-mode run that misses it stops at once) and guesses nothing from
    the folder: decoders an older `train-decoders` saved there, and any other .pt, are neither read nor deleted
    (they once were)."""
    import torch

    from stlib import Result, wct

    monkeypatch.setenv("STLIB_CACHE_DIR", str(tmp_path))
    settings = wct.DecoderSettings(levels=("relu1_1",), shrink=8)  # untrained and tiny: the file is what matters
    decoders = wct.TrainedDecoders(wct.Decoders(settings.levels, settings.shrink), settings,
                                   Result(image=torch.zeros(1, 3, 4, 4))).save(tmp_path / "decoders.pt")
    saved = decoders.read_bytes()
    (tmp_path / "mine.pt").write_bytes(b"not a cache entry")
    lesson = tmp_path / "99_lesson.ipynb"  # one cached run, the same size in both modes
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import stlib, torch\nstlib.reconstruct_content(torch.full((1, 3, 16, 16), 0.5), 'conv1_1', num_steps=1, "
        "model='random', cache=True, progress=False)")]), lesson)
    assert build_site.run_lesson(lesson, fast=False, timeout=120)[1] == "fast"  # empty cache: fast mode, computed
    assert build_site.run_lesson(lesson, fast=False, timeout=120)[1] == "full"  # now replayed from the cache
    assert decoders.read_bytes() == saved and (tmp_path / "mine.pt").read_bytes() == b"not a cache entry"
    assert wct.load_decoders(decoders).settings == settings
