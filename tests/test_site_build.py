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
    for spec, name, sha512, _ in build_site.NPM:
        assert re.fullmatch(r"(@[\w-]+/)?[\w-]+@\d+\.\d+\.\d+", spec) and name.endswith(".tgz")
        assert len(base64.b64decode(sha512)) == 64


def test_unknown_lesson_fails_with_the_available_ones(capsys):
    with pytest.raises(SystemExit):
        build_site.main(["99", "--out", "/nonexistent/never-written"])
    assert "no lesson '99'; available: 00_" in capsys.readouterr().err
